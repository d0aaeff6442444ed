import Foundation
import LogStore
import Testing

@testable import PostgresCDC

@Suite struct ChangeEnvelopeTests {
    /// public.users (id int4 key, name varchar, doc jsonb, bio text).
    static func users(identity: RelationMessage.ReplicaIdentity = .default) -> CachedRelation {
        let keyFlag: UInt8 = 1
        let otherFlag: UInt8 = identity == .full ? 1 : 0
        return CachedRelation(
            relation: RelationMessage(
                oid: 16_384, namespace: "public", name: "users", replicaIdentity: identity,
                columns: [
                    .init(flags: keyFlag, name: "id", typeOID: 23, typeModifier: -1),
                    .init(flags: otherFlag, name: "name", typeOID: 1043, typeModifier: 68),
                    .init(flags: otherFlag, name: "doc", typeOID: 3802, typeModifier: -1),
                    .init(flags: otherFlag, name: "bio", typeOID: 25, typeModifier: -1),
                ]))
    }

    static let source = ChangeSource(
        lsn: LSN(0x16_B374_D800), commitLSN: LSN(0x16_B374_D848), xid: 747, transactionOrdinal: 2,
        commitTimestamp: PostgresTimestamp(unixMicroseconds: 1_700_000_000_123_456))

    static let sourceJSON =
        #""source":{"lsn":"16/B374D800","commit_lsn":"16/B374D848","xid":747,"tx_ordinal":2,"schema":"public","table":"users","commit_ts":1700000000123456}"#

    private func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    private func header(_ record: Record, _ key: String) -> String? {
        record.headers.first { $0.key == key }?.value.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func insertIsExact() throws {
        var envelope = ChangeEnvelope()
        let record = try envelope.insert(
            .init(relationOID: 16_384, newTuple: tuple(["1", "ann", #"{"x": [1]}"#, .null])), relation: Self.users(),
            source: Self.source)
        #expect(
            text(record.value) == #"{"op":"c","before":null,"after":{"id":1,"name":"ann","doc":{"x": [1]},"bio":null},"#
                + Self.sourceJSON + "}")
        #expect(text(record.key) == #"{"id":1}"#)
        #expect(
            record.headers == [
                RecordHeader(CDCHeader.table, "public.users"), RecordHeader(CDCHeader.operation, "c"),
                RecordHeader(CDCHeader.commitLSN, "16/B374D848"), RecordHeader(CDCHeader.transactionOrdinal, "2"),
            ])
        #expect(record.timestamp == 1_700_000_000_123)
        let value = try parseObject(record.value)
        let after = try #require(value["after"] as? [String: Any])
        #expect(after["id"] as? Int == 1)
        #expect(after["bio"] is NSNull)
        #expect(value["before"] is NSNull)
        let source = try #require(value["source"] as? [String: Any])
        #expect(source["commit_lsn"] as? String == "16/B374D848")
        #expect((source["commit_ts"] as? NSNumber)?.int64Value == 1_700_000_000_123_456)
    }

    @Test func updateWithoutOldTupleListsUnchangedToast() throws {
        var envelope = ChangeEnvelope()
        let record = try envelope.update(
            .init(relationOID: 16_384, oldTuple: nil, newTuple: tuple(["1", "bob", .unchanged, .unchanged])),
            relation: Self.users(), source: Self.source)
        #expect(
            text(record.value)
                == #"{"op":"u","before":null,"after":{"id":1,"name":"bob"},"unchanged":["doc","bio"],"# + Self.sourceJSON + "}")
        #expect(text(record.key) == #"{"id":1}"#)
        let value = try parseObject(record.value)
        let after = try #require(value["after"] as? [String: Any])
        #expect(after["doc"] == nil)  // never null: left out
        #expect(value["unchanged"] as? [String] == ["doc", "bio"])
    }

    @Test func updateUnderFullIdentityFillsUnchangedToastFromTheOldRow() throws {
        var envelope = ChangeEnvelope()
        let record = try envelope.update(
            .init(
                relationOID: 16_384, oldTuple: .full(tuple(["1", "al", "[1]", "long"])),
                newTuple: tuple(["1", "bob", .unchanged, .unchanged])),
            relation: Self.users(identity: .full), source: Self.source)
        let value = try parseObject(record.value)
        #expect(value["unchanged"] == nil)
        let after = try #require(value["after"] as? [String: Any])
        #expect(after["bio"] as? String == "long")
        #expect(after["doc"] as? [Int] == [1])
        let before = try #require(value["before"] as? [String: Any])
        #expect(before["name"] as? String == "al")
        // Under FULL every column is in the replica identity, so the key is the row.
        let key = try parseObject(record.key)
        #expect(Set(key.keys) == ["id", "name", "doc", "bio"])
        #expect(key["bio"] as? String == "long")
    }

    @Test func updateChangingTheKeyHasTheOldKeyAsBefore() throws {
        var envelope = ChangeEnvelope()
        let record = try envelope.update(
            .init(
                relationOID: 16_384, oldTuple: .key(tuple(["1", .null, .null, .null])),
                newTuple: tuple(["2", "bob", .null, .unchanged])),
            relation: Self.users(), source: Self.source)
        #expect(
            text(record.value)
                == #"{"op":"u","before":{"id":1},"after":{"id":2,"name":"bob","doc":null},"unchanged":["bio"],"# + Self.sourceJSON
                + "}")
        #expect(text(record.key) == #"{"id":2}"#)
    }

    @Test func deleteWithKeyAndWithFullRow() throws {
        var envelope = ChangeEnvelope()
        let byKey = try envelope.delete(
            .init(relationOID: 16_384, oldTuple: .key(tuple(["7", .null, .null, .null]))), relation: Self.users(),
            source: Self.source)
        #expect(text(byKey.value) == #"{"op":"d","before":{"id":7},"after":null,"# + Self.sourceJSON + "}")
        #expect(text(byKey.key) == #"{"id":7}"#)
        #expect(header(byKey, CDCHeader.operation) == "d")

        let full = try envelope.delete(
            .init(relationOID: 16_384, oldTuple: .full(tuple(["7", "x", .null, "b"]))), relation: Self.users(identity: .full),
            source: Self.source)
        #expect(
            text(full.value)
                == #"{"op":"d","before":{"id":7,"name":"x","doc":null,"bio":"b"},"after":null,"# + Self.sourceJSON + "}")
    }

    @Test func tableWithoutReplicaIdentityHasNoKey() throws {
        var envelope = ChangeEnvelope()
        let relation = CachedRelation(
            relation: RelationMessage(
                oid: 9, namespace: "public", name: "log", replicaIdentity: .nothing,
                columns: [.init(flags: 0, name: "line", typeOID: 25, typeModifier: -1)]))
        let record = try envelope.insert(.init(relationOID: 9, newTuple: tuple(["hi"])), relation: relation, source: Self.source)
        #expect(record.key == nil)
        #expect(try parseObject(record.value)["op"] as? String == "c")
    }

    @Test func snapshotRowIsOpR() throws {
        var envelope = ChangeEnvelope()
        let source = ChangeSource(lsn: LSN(5), commitLSN: LSN(5), xid: nil, transactionOrdinal: 0, commitTimestamp: nil)
        let record = try envelope.snapshotRow(tuple(["3", "c", .null, .null]), relation: Self.users(), source: source)
        #expect(
            text(record.value)
                == #"{"op":"r","before":null,"after":{"id":3,"name":"c","doc":null,"bio":null},"source":{"lsn":"0/5","commit_lsn":"0/5","xid":null,"tx_ordinal":0,"schema":"public","table":"users","commit_ts":null}}"#
        )
        #expect(record.timestamp == nil)
    }

    @Test func columnCountMismatchIsAnError() {
        var envelope = ChangeEnvelope()
        let error = #expect(throws: ChangeEncodingError.self) {
            try envelope.insert(.init(relationOID: 16_384, newTuple: tuple(["1"])), relation: Self.users(), source: Self.source)
        }
        #expect(error?.code == .columnCountMismatch)
        #expect(error?.relationOID == 16_384)
    }

    @Test func binaryValuesAreBase64() throws {
        var envelope = ChangeEnvelope()
        let record = try envelope.insert(
            .init(relationOID: 16_384, newTuple: tuple(["1", .binary([1, 2, 3]), .null, .null])), relation: Self.users(),
            source: Self.source)
        #expect(try #require(try parseObject(record.value)["after"] as? [String: Any])["name"] as? String == "AQID")
    }

    @Test func truncateIsOneRecordPerTableWithConsecutiveOrdinals() throws {
        var cache = RelationCache()
        cache.apply(Self.users().relation)
        cache.apply(RelationMessage(oid: 20, namespace: "shop", name: "orders", replicaIdentity: .default, columns: []))
        var envelope = ChangeEnvelope()
        let records = try envelope.truncate(.init(options: 1, relationOIDs: [16_384, 20]), relations: cache, source: Self.source)
        #expect(records.count == 2)
        #expect(
            text(records[0].value)
                == #"{"op":"t","before":null,"after":null,"truncate":{"tables":["public.users","shop.orders"],"cascade":true,"restart_identity":false},"#
                + Self.sourceJSON + "}")
        #expect(records.map { header($0, CDCHeader.table) } == ["public.users", "shop.orders"])
        #expect(records.map { header($0, CDCHeader.transactionOrdinal) } == ["2", "3"])
        let second = try #require(try parseObject(records[1].value)["source"] as? [String: Any])
        #expect(second["schema"] as? String == "shop")
        #expect(second["tx_ordinal"] as? Int == 3)
        #expect(records.allSatisfy { $0.key == nil })

        let error = #expect(throws: ChangeEncodingError.self) {
            try envelope.truncate(.init(options: 0, relationOIDs: [99]), relations: cache, source: Self.source)
        }
        #expect(error?.code == .unknownRelation)
    }

    @Test func messagesCarryUTF8OrBase64Content() throws {
        var envelope = ChangeEnvelope()
        let source = ChangeSource(lsn: LSN(0x10), commitLSN: LSN(0x20), xid: 9, transactionOrdinal: 0, commitTimestamp: nil)
        let utf8 = envelope.message(
            .init(flags: 1, lsn: LSN(0x10), prefix: "audit", content: Array("héllo \"x\"".utf8)[...]), source: source)
        #expect(
            text(utf8.value)
                == #"{"op":"m","before":null,"after":null,"message":{"prefix":"audit","content":"héllo \"x\"","content_encoding":"utf8","transactional":true},"source":{"lsn":"0/10","commit_lsn":"0/20","xid":9,"tx_ordinal":0,"schema":null,"table":null,"commit_ts":null}}"#
        )
        #expect(header(utf8, CDCHeader.table) == nil)
        #expect(header(utf8, CDCHeader.messagePrefix) == "audit")
        #expect(header(utf8, CDCHeader.operation) == "m")

        let binary = envelope.message(
            .init(flags: 0, lsn: LSN(0x10), prefix: "bin", content: [0xFF, 0x00, 0xFE][...]), source: source)
        let message = try #require(try parseObject(binary.value)["message"] as? [String: Any])
        #expect(message["content_encoding"] as? String == "base64")
        #expect(message["content"] as? String == Data([0xFF, 0x00, 0xFE]).base64EncodedString())
        #expect(message["transactional"] as? Bool == false)
    }

    @Test func schemaRecordDescribesColumns() throws {
        var cache = RelationCache()
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_001, namespace: "public", name: "mood"))
        // A domain over int4: pgoutput's Type message names the base, pg_type the domain.
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_002, namespace: "", name: "int4"))
        cache.apply(
            lookedUp: [90_001, 90_002],
            domains: [
                PostgresDomain(
                    oid: 90_002, name: "public.posint", baseOID: 23, baseName: "int4", baseTypeName: "int4", isArray: false)
            ])
        cache.apply(
            RelationMessage(
                oid: 30, namespace: "public", name: "people", replicaIdentity: .index,
                columns: [
                    .init(flags: 1, name: "id", typeOID: 20, typeModifier: -1),
                    .init(flags: 0, name: "mood", typeOID: 90_001, typeModifier: -1),
                    .init(flags: 0, name: "age", typeOID: 90_002, typeModifier: -1),
                    .init(flags: 0, name: "x", typeOID: 77_777, typeModifier: 5),
                ]))
        var envelope = ChangeEnvelope()
        let record = envelope.schema(try #require(cache[30]), source: Self.source)
        #expect(
            text(record.value)
                == #"{"op":"s","before":null,"after":null,"schema":{"relation_oid":30,"namespace":"public","name":"people","replica_identity":"index","columns":[{"name":"id","type":"int8","type_oid":20,"type_modifier":-1,"key":true},{"name":"mood","type":"public.mood","type_oid":90001,"type_modifier":-1,"key":false},{"name":"age","type":"public.posint","base_type":"int4","type_oid":90002,"type_modifier":-1,"key":false},{"name":"x","type":null,"type_oid":77777,"type_modifier":5,"key":false}]},"source":{"lsn":"16/B374D800","commit_lsn":"16/B374D848","xid":747,"tx_ordinal":2,"schema":"public","table":"people","commit_ts":1700000000123456}}"#
        )
        #expect(header(record, CDCHeader.operation) == "s")
        #expect(header(record, CDCHeader.table) == "public.people")
        _ = try parseObject(record.value)
    }

    @Test func everyTypeInOneRowParsesAsJSON() throws {
        let columns: [(String, UInt32, String)] = [
            ("i2", 21, "-5"), ("i4", 23, "42"), ("i8", 20, "9007199254740993"), ("f4", 700, "1.25"), ("f8", 701, "NaN"),
            ("b", 16, "t"), ("n", 1700, "3.14159265358979323846"), ("t", 25, "tab\there"), ("v", 1043, "ü"),
            ("by", 17, #"\x0001"#), ("u", 2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), ("j", 114, #"{"k":"v"}"#),
            ("jb", 3802, "[1, 2]"), ("d", 1082, "2024-01-31"), ("ts", 1114, "2024-01-31 12:00:00"),
            ("tz", 1184, "2024-01-31 12:00:00+01"), ("ai", 1007, "{1,NULL,3}"), ("at", 1009, #"{"a,b",c}"#),
        ]
        let relation = CachedRelation(
            relation: RelationMessage(
                oid: 1, namespace: "public", name: "all_types", replicaIdentity: .default,
                columns: columns.enumerated().map {
                    .init(flags: $0.offset == 0 ? 1 : 0, name: $0.element.0, typeOID: $0.element.1, typeModifier: -1)
                }))
        var envelope = ChangeEnvelope()
        let record = try envelope.insert(
            .init(relationOID: 1, newTuple: tuple(columns.map { .text($0.2) })), relation: relation, source: Self.source)
        let after = try #require(try parseObject(record.value)["after"] as? [String: Any])
        #expect(after["i2"] as? Int == -5)
        #expect((after["i8"] as? NSNumber)?.int64Value == 9_007_199_254_740_993)
        #expect(after["f4"] as? Double == 1.25)
        #expect(after["f8"] as? String == "NaN")
        #expect(after["b"] as? Bool == true)
        #expect(after["n"] as? String == "3.14159265358979323846")
        #expect(after["t"] as? String == "tab\there")
        #expect(after["by"] as? String == "AAE=")
        #expect((after["j"] as? [String: Any])?["k"] as? String == "v")
        #expect(after["jb"] as? [Int] == [1, 2])
        #expect(after["tz"] as? String == "2024-01-31 12:00:00+01")
        #expect((after["ai"] as? [Any])?.count == 3)
        #expect(after["at"] as? [String] == ["a,b", "c"])
        #expect(text(record.key) == #"{"i2":-5}"#)
    }
}
