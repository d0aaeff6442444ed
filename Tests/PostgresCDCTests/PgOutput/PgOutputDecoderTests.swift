import Testing

@testable import PostgresCDC

/// Well-formed messages of every type, shared with the fuzz tests.
enum SampleMessages {
    static var begin: [UInt8] {
        let m = PgOutputBuilder(tag: "B")
        return m.uint64(0x16_B374_D848).int64(752_000_000_123_456).uint32(747).bytes
    }

    static var commit: [UInt8] {
        let m = PgOutputBuilder(tag: "C")
        return m.int8(0).uint64(0x16_B374_D848).uint64(0x16_B374_D878).int64(752_000_000_123_456).bytes
    }

    static var origin: [UInt8] {
        let m = PgOutputBuilder(tag: "O")
        return m.uint64(0x1_0000_0042).string("node-ä").bytes
    }

    static var relation: [UInt8] {
        let m = PgOutputBuilder(tag: "R")
        m.uint32(16_384).string("public").string("users").char("d").int16(3)
        m.int8(1).string("id").uint32(23).int32(-1)
        m.int8(0).string("name").uint32(1043).int32(68)
        m.int8(0).string("doc").uint32(3802).int32(-1)
        return m.bytes
    }

    static var type: [UInt8] {
        let m = PgOutputBuilder(tag: "Y")
        return m.uint32(90_001).string("public").string("mood").bytes
    }

    static var insert: [UInt8] {
        let m = PgOutputBuilder(tag: "I")
        return m.uint32(16_384).char("N").tuple(["1", .null, #"{"a": 1}"#]).bytes
    }

    static var updateWithoutOld: [UInt8] {
        let m = PgOutputBuilder(tag: "U")
        return m.uint32(16_384).char("N").tuple(["1", "bob", .unchanged]).bytes
    }

    static var updateWithKey: [UInt8] {
        let m = PgOutputBuilder(tag: "U")
        return m.uint32(16_384).char("K").tuple(["1", .null, .null]).char("N").tuple(["2", "bob", .unchanged]).bytes
    }

    static var updateWithOld: [UInt8] {
        let m = PgOutputBuilder(tag: "U")
        return m.uint32(16_384).char("O").tuple(["1", "al", "[]"]).char("N").tuple(["1", "bob", .unchanged]).bytes
    }

    static var deleteWithKey: [UInt8] {
        let m = PgOutputBuilder(tag: "D")
        return m.uint32(16_384).char("K").tuple(["7", .null, .null]).bytes
    }

    static var deleteWithOld: [UInt8] {
        let m = PgOutputBuilder(tag: "D")
        return m.uint32(16_384).char("O").tuple(["7", "x", .binary([0, 1, 2])]).bytes
    }

    static var truncate: [UInt8] {
        let m = PgOutputBuilder(tag: "T")
        return m.int32(2).int8(3).uint32(16_384).uint32(16_390).bytes
    }

    static var message: [UInt8] {
        let m = PgOutputBuilder(tag: "M")
        return m.int8(1).uint64(0x2_0000_0010).string("audit").int32(5).raw(Array("hello".utf8)).bytes
    }

    static var all: [(name: String, bytes: [UInt8])] {
        [
            ("begin", begin), ("commit", commit), ("origin", origin), ("relation", relation), ("type", type),
            ("insert", insert), ("updateWithoutOld", updateWithoutOld), ("updateWithKey", updateWithKey),
            ("updateWithOld", updateWithOld), ("deleteWithKey", deleteWithKey), ("deleteWithOld", deleteWithOld),
            ("truncate", truncate), ("message", message),
        ]
    }
}

@Suite struct PgOutputDecoderTests {
    @Test func begin() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.begin)
        guard case .begin(let begin) = message else {
            Issue.record("got \(message)")
            return
        }
        #expect(begin.finalLSN == LSN(0x16_B374_D848))
        #expect(begin.commitTimestamp.rawValue == 752_000_000_123_456)
        #expect(begin.xid == 747)
    }

    @Test func commit() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.commit)
        guard case .commit(let commit) = message else {
            Issue.record("got \(message)")
            return
        }
        #expect(commit.flags == 0)
        #expect(commit.commitLSN.description == "16/B374D848")
        #expect(commit.endLSN.description == "16/B374D878")
        #expect(commit.commitTimestamp == PostgresTimestamp(rawValue: 752_000_000_123_456))
    }

    @Test func origin() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.origin)
        #expect(message == .origin(.init(commitLSN: LSN(0x1_0000_0042), name: "node-ä")))
    }

    @Test func relation() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.relation)
        guard case .relation(let relation) = message else {
            Issue.record("got \(message)")
            return
        }
        #expect(relation.oid == 16_384)
        #expect(relation.namespace == "public")
        #expect(relation.name == "users")
        #expect(relation.qualifiedName == "public.users")
        #expect(relation.replicaIdentity == .default)
        #expect(
            relation.columns == [
                .init(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                .init(flags: 0, name: "name", typeOID: 1043, typeModifier: 68),
                .init(flags: 0, name: "doc", typeOID: 3802, typeModifier: -1),
            ])
        #expect(relation.columns.map(\.isKey) == [true, false, false])
    }

    @Test(arguments: [
        ("d" as Character, RelationMessage.ReplicaIdentity.default), ("n", .nothing), ("f", .full), ("i", .index),
        ("z", .other(UInt8(ascii: "z"))),
    ])
    func replicaIdentities(byte: Character, identity: RelationMessage.ReplicaIdentity) throws {
        let m = PgOutputBuilder(tag: "R")
        m.uint32(1).string("").string("t").char(byte).int16(0)
        let message = try PgOutputDecoder.decode(m.bytes)
        #expect(message == .relation(.init(oid: 1, namespace: "", name: "t", replicaIdentity: identity, columns: [])))
        #expect(identity.byte == UInt8(ascii: byte.unicodeScalars.first ?? "?"))
    }

    @Test func type() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.type)
        #expect(message == .type(.init(oid: 90_001, namespace: "public", name: "mood")))
    }

    @Test func insertWithNullAndText() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.insert)
        #expect(message == .insert(.init(relationOID: 16_384, newTuple: tuple(["1", .null, #"{"a": 1}"#]))))
    }

    @Test func updateWithoutOldTupleKeepsUnchangedToast() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.updateWithoutOld)
        #expect(message == .update(.init(relationOID: 16_384, oldTuple: nil, newTuple: tuple(["1", "bob", .unchanged]))))
    }

    @Test func updateWithKeyTuple() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.updateWithKey)
        #expect(
            message
                == .update(
                    .init(
                        relationOID: 16_384, oldTuple: .key(tuple(["1", .null, .null])),
                        newTuple: tuple(["2", "bob", .unchanged]))))
    }

    @Test func updateWithOldTuple() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.updateWithOld)
        #expect(
            message
                == .update(
                    .init(
                        relationOID: 16_384, oldTuple: .full(tuple(["1", "al", "[]"])),
                        newTuple: tuple(["1", "bob", .unchanged]))))
    }

    @Test func deletes() throws {
        #expect(
            try PgOutputDecoder.decode(SampleMessages.deleteWithKey)
                == .delete(.init(relationOID: 16_384, oldTuple: .key(tuple(["7", .null, .null])))))
        #expect(
            try PgOutputDecoder.decode(SampleMessages.deleteWithOld)
                == .delete(.init(relationOID: 16_384, oldTuple: .full(tuple(["7", "x", .binary([0, 1, 2])])))))
    }

    @Test func truncate() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.truncate)
        guard case .truncate(let truncate) = message else {
            Issue.record("got \(message)")
            return
        }
        #expect(truncate.options == 3)
        #expect(truncate.cascade)
        #expect(truncate.restartIdentity)
        #expect(truncate.relationOIDs == [16_384, 16_390])
    }

    @Test func logicalMessage() throws {
        let message = try PgOutputDecoder.decode(SampleMessages.message)
        guard case .message(let logical) = message else {
            Issue.record("got \(message)")
            return
        }
        #expect(logical.isTransactional)
        #expect(logical.lsn == LSN("2/10"))
        #expect(logical.prefix == "audit")
        #expect(Array(logical.content) == Array("hello".utf8))
    }

    @Test func emptyValuesAndZeroColumns() throws {
        let m = PgOutputBuilder(tag: "I")
        m.uint32(5).char("N").tuple(["", .null])
        #expect(try PgOutputDecoder.decode(m.bytes) == .insert(.init(relationOID: 5, newTuple: tuple(["", .null]))))
        let empty = PgOutputBuilder(tag: "I")
        empty.uint32(5).char("N").tuple([])
        #expect(try PgOutputDecoder.decode(empty.bytes) == .insert(.init(relationOID: 5, newTuple: tuple([]))))
    }

    @Test func decodesFromASliceWithPositionsRelativeToIt() throws {
        let padded = [0xAA, 0xBB] + SampleMessages.begin
        let slice = padded[2...]
        guard case .begin(let begin) = try PgOutputDecoder.decode(slice) else {
            Issue.record("not a begin")
            return
        }
        #expect(begin.xid == 747)
        let error = try #require(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(padded[2..<10]) }
        #expect(error.code == .truncated)
        #expect(error.position == 1)
    }

    @Test(arguments: ["b", "P", "K", "r", "p"])
    func twoPhaseMessagesAreUnsupportedNotErrors(tag: Character) throws {
        let m = PgOutputBuilder(tag: tag)
        m.uint32(747).uint32(748)
        #expect(try PgOutputDecoder.decode(m.bytes) == .unsupported(tag: UInt8(ascii: tag.unicodeScalars.first ?? "?")))
    }

    // MARK: - Protocol 2: streamed transactions

    @Test func streamMessages() throws {
        let start = PgOutputBuilder(tag: "S").uint32(747).int8(1)
        #expect(try PgOutputDecoder.decode(start.bytes) == .streamStart(.init(xid: 747, isFirstSegment: true)))
        #expect(try PgOutputDecoder.decode(PgOutputBuilder(tag: "E").bytes) == .streamStop)
        let commit = PgOutputBuilder(tag: "c").uint32(747).int8(0).uint64(0x10).uint64(0x20).int64(5)
        #expect(
            try PgOutputDecoder.decode(commit.bytes)
                == .streamCommit(
                    .init(
                        xid: 747,
                        commit: .init(flags: 0, commitLSN: LSN(0x10), endLSN: LSN(0x20), commitTimestamp: .init(rawValue: 5)))))
        let abort = PgOutputBuilder(tag: "A").uint32(747).uint32(748)
        #expect(try PgOutputDecoder.decode(abort.bytes) == .streamAbort(.init(xid: 747, subtransactionXid: 748)))
        // Protocol 4 adds the abort's LSN and time: still the same abort.
        let longer = PgOutputBuilder(tag: "A").uint32(747).uint32(747).uint64(0x30).int64(6)
        #expect(try PgOutputDecoder.decode(longer.bytes) == .streamAbort(.init(xid: 747, subtransactionXid: 747)))
        let truncated = PgOutputBuilder(tag: "c").uint32(747).int8(0).uint64(0x10)
        #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(truncated.bytes) }
    }

    /// Inside a stream block a change carries its (sub)transaction's xid after the type byte.
    @Test func changesInsideAStreamBlockCarryTheirXid() throws {
        let insert = PgOutputBuilder(tag: "I").uint32(748).uint32(16384).char("N").tuple([.text("1")])
        let (message, xid) = try PgOutputDecoder.decode(insert.bytes[...], inStream: true)
        #expect(xid == 748)
        guard case .insert(let decoded) = message else {
            Issue.record("not an insert: \(message)")
            return
        }
        #expect(decoded.relationOID == 16384)
        // Outside a block the same bytes are a malformed insert, never a silently different one.
        #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(insert.bytes) }
        let begin = try PgOutputDecoder.decode(SampleMessages.begin[...], inStream: true)
        #expect(begin.streamXid == nil, "Begin, Commit and the stream messages carry no extra xid")
    }

    // MARK: - Errors name the message and the position

    @Test func emptyInput() {
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode([]) }
        #expect(error?.code == .truncated)
        #expect(error?.tag == nil)
    }

    @Test func unknownTag() {
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode([UInt8(ascii: "Z"), 0]) }
        #expect(error?.code == .unknownMessageType)
        #expect(error?.tag == UInt8(ascii: "Z"))
        #expect(error?.position == 0)
    }

    @Test func trailingBytes() {
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(SampleMessages.begin + [0]) }
        #expect(error?.code == .trailingBytes)
        #expect(error?.position == SampleMessages.begin.count)
        #expect(error?.description.contains("Begin ('B')") == true)
    }

    @Test func badTupleKind() {
        let m = PgOutputBuilder(tag: "I")
        m.uint32(1).char("N").int16(1).char("x")
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .unexpectedByte)
        #expect(error?.position == 8)
        #expect(error?.tag == UInt8(ascii: "I"))
    }

    @Test func badUpdateMarker() {
        let m = PgOutputBuilder(tag: "U")
        m.uint32(1).char("X").tuple([])
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .unexpectedByte)
        #expect(error?.position == 5)
    }

    @Test func updateNeedsTheNewTupleAfterTheOld() {
        let m = PgOutputBuilder(tag: "U")
        m.uint32(1).char("K").tuple(["1"]).char("K").tuple(["1"])
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .unexpectedByte)
    }

    @Test func badDeleteMarker() {
        let m = PgOutputBuilder(tag: "D")
        m.uint32(1).char("N").tuple([])
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .unexpectedByte)
    }

    @Test func negativeLengthsAndCounts() {
        let value = PgOutputBuilder(tag: "I")
        value.uint32(1).char("N").int16(1).char("t").int32(-1)
        #expect((#expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(value.bytes) })?.code == .invalidLength)
        let columns = PgOutputBuilder(tag: "I")
        columns.uint32(1).char("N").int16(-2)
        #expect(
            (#expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(columns.bytes) })?.code == .invalidLength)
        let relations = PgOutputBuilder(tag: "T")
        relations.int32(-1).int8(0)
        #expect(
            (#expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(relations.bytes) })?.code == .invalidLength)
    }

    @Test func hugeCountsDoNotAllocateBeforeFailing() {
        let m = PgOutputBuilder(tag: "T")
        m.int32(Int32.max).int8(0).uint32(1)
        #expect((#expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) })?.code == .truncated)
        let relation = PgOutputBuilder(tag: "R")
        relation.uint32(1).string("s").string("t").char("d").int16(Int16.max)
        #expect((#expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(relation.bytes) })?.code == .truncated)
    }

    @Test func invalidUTF8InANameIsAnError() {
        let m = PgOutputBuilder(tag: "Y")
        m.uint32(1).raw([0xFF, 0]).string("t")
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .invalidString)
        #expect(error?.position == 5)
    }

    @Test func stringWithoutTerminator() {
        let m = PgOutputBuilder(tag: "O")
        m.uint64(1).raw(Array("name".utf8))
        let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(m.bytes) }
        #expect(error?.code == .truncated)
        #expect(error?.position == 9)
    }
}
