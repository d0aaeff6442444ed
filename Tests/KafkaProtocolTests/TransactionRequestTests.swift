import NIOCore
import Testing

@testable import KafkaProtocol

@Suite("Kafka transaction requests: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit")
struct TransactionRequestTests {
    static let addPartitions = AddPartitionsToTxnRequest(
        transactionalID: "billing-tx", producerID: 4000, producerEpoch: 3,
        topics: [.init(name: "orders", partitions: [0, 2]), .init(name: "audit", partitions: [])])
    static let addOffsets = AddOffsetsToTxnRequest(
        transactionalID: "billing-tx", producerID: 4000, producerEpoch: 3, groupID: "billing")
    static let endTxn = EndTxnRequest(transactionalID: "billing-tx", producerID: 4000, producerEpoch: 3, committed: true)
    static let txnOffsetCommit = TxnOffsetCommitRequest(
        transactionalID: "billing-tx", groupID: "billing", producerID: 4000, producerEpoch: 3,
        topics: [
            .init(
                name: "orders",
                partitions: [
                    .init(index: 0, committedOffset: 17, committedLeaderEpoch: 5, metadata: "m"),
                    .init(index: 1, committedOffset: 0, committedLeaderEpoch: 5, metadata: nil),
                ])
        ])

    /// The body of a request read through `KafkaRequest.decode`, as the server reads it.
    static func decodedBody(_ api: APIKey, version: Int16, _ body: (inout ByteBuffer) -> Void) throws -> KafkaRequest.Body {
        let request = try KafkaRequest.decode(frame: frame(api, version: version, body))
        #expect(request.api == api)
        #expect(request.header.apiVersion == version)
        return request.body
    }

    @Test("each API is served at v0-2 and refused from v3, its first flexible version")
    func versions() {
        for api in [APIKey.addPartitionsToTxn, .addOffsetsToTxn, .endTxn, .txnOffsetCommit] {
            #expect(api.supportedVersions == 0...2, "\(api)")
            let error = #expect(throws: KafkaDecodingError.self) { try KafkaRequest.decode(frame: frame(api, version: 3)) }
            #expect(error?.code == .unsupportedVersion, "\(api)")
        }
        #expect(APIKey(rawValue: 24) == .addPartitionsToTxn)
        #expect(APIKey(rawValue: 25) == .addOffsetsToTxn)
        #expect(APIKey(rawValue: 26) == .endTxn)
        #expect(APIKey(rawValue: 27) == nil, "WriteTxnMarkers is broker to broker, not served")
        #expect(APIKey(rawValue: 28) == .txnOffsetCommit)
        #expect(APIKey.txnOffsetCommit.description == "TxnOffsetCommit")
    }

    @Test("the transaction error codes have Kafka's numbers")
    func errorCodes() {
        let codes: [(ErrorCode, Int16)] = [
            (.invalidTxnState, 48), (.invalidProducerIDMapping, 49), (.invalidTransactionTimeout, 50),
            (.concurrentTransactions, 51), (.transactionCoordinatorFenced, 52), (.unknownProducerID, 59),
            (.producerFenced, 90),
        ]
        for (code, number) in codes { #expect(code.rawValue == number) }
    }

    @Test(
        "AddPartitionsToTxn requests round-trip through encode and decode", arguments: APIKey.addPartitionsToTxn.supportedVersions
    )
    func addPartitionsRoundTrip(version: Int16) throws {
        let body = try Self.decodedBody(.addPartitionsToTxn, version: version) {
            Self.addPartitions.encode(into: &$0, version: version)
        }
        guard case .addPartitionsToTxn(let decoded) = body else { throw KafkaDecodingError(.invalid, "not addPartitionsToTxn") }
        #expect(decoded == Self.addPartitions)
    }

    @Test("AddOffsetsToTxn requests round-trip through encode and decode", arguments: APIKey.addOffsetsToTxn.supportedVersions)
    func addOffsetsRoundTrip(version: Int16) throws {
        let body = try Self.decodedBody(.addOffsetsToTxn, version: version) {
            Self.addOffsets.encode(into: &$0, version: version)
        }
        guard case .addOffsetsToTxn(let decoded) = body else { throw KafkaDecodingError(.invalid, "not addOffsetsToTxn") }
        #expect(decoded == Self.addOffsets)
    }

    @Test("EndTxn requests round-trip through encode and decode, commit and abort", arguments: APIKey.endTxn.supportedVersions)
    func endTxnRoundTrip(version: Int16) throws {
        var abort = Self.endTxn
        abort.committed = false
        for request in [Self.endTxn, abort] {
            let body = try Self.decodedBody(.endTxn, version: version) { request.encode(into: &$0, version: version) }
            guard case .endTxn(let decoded) = body else { throw KafkaDecodingError(.invalid, "not endTxn") }
            #expect(decoded == request)
        }
    }

    @Test(
        "TxnOffsetCommit requests round-trip through encode and decode; below v2 there is no leader epoch (-1)",
        arguments: APIKey.txnOffsetCommit.supportedVersions)
    func txnOffsetCommitRoundTrip(version: Int16) throws {
        let body = try Self.decodedBody(.txnOffsetCommit, version: version) {
            Self.txnOffsetCommit.encode(into: &$0, version: version)
        }
        guard case .txnOffsetCommit(let decoded) = body else { throw KafkaDecodingError(.invalid, "not txnOffsetCommit") }
        var expected = Self.txnOffsetCommit
        if version < 2 {
            for topic in expected.topics.indices {
                for partition in expected.topics[topic].partitions.indices {
                    expected.topics[topic].partitions[partition].committedLeaderEpoch = -1
                }
            }
        }
        #expect(decoded == expected, "v\(version)")
    }

    @Test("requests written field by field as Kafka's JSON specs order them decode to the same values")
    func requestsFromSpecLayout() throws {
        func writeHeader(_ buffer: inout ByteBuffer) {
            buffer.writeKafka("billing-tx")
            buffer.writeKafka(Int64(4000))
            buffer.writeKafka(Int16(3))
        }
        // AddPartitionsToTxn v0-2: transactional_id, producer_id, producer_epoch, [name, [partition]].
        let addPartitions = try Self.decodedBody(.addPartitionsToTxn, version: 2) { buffer in
            writeHeader(&buffer)
            buffer.writeKafka(Int32(2))
            buffer.writeKafka("orders")
            buffer.writeKafka(Int32(2))
            buffer.writeKafka(Int32(0))
            buffer.writeKafka(Int32(2))
            buffer.writeKafka("audit")
            buffer.writeKafka(Int32(0))
        }
        guard case .addPartitionsToTxn(let partitions) = addPartitions else { throw KafkaDecodingError(.invalid, "not add") }
        #expect(partitions == Self.addPartitions)

        // AddOffsetsToTxn v0-2: transactional_id, producer_id, producer_epoch, group_id.
        let addOffsets = try Self.decodedBody(.addOffsetsToTxn, version: 0) { buffer in
            writeHeader(&buffer)
            buffer.writeKafka("billing")
        }
        guard case .addOffsetsToTxn(let offsets) = addOffsets else { throw KafkaDecodingError(.invalid, "not addOffsets") }
        #expect(offsets == Self.addOffsets)

        // EndTxn v0-2: transactional_id, producer_id, producer_epoch, committed.
        let end = try Self.decodedBody(.endTxn, version: 1) { buffer in
            writeHeader(&buffer)
            buffer.writeKafka(Int8(0))
        }
        guard case .endTxn(let ended) = end else { throw KafkaDecodingError(.invalid, "not endTxn") }
        #expect(ended == EndTxnRequest(transactionalID: "billing-tx", producerID: 4000, producerEpoch: 3, committed: false))

        // TxnOffsetCommit v2: transactional_id, group_id, producer_id, producer_epoch,
        // [name, [partition_index, committed_offset, committed_leader_epoch, committed_metadata]].
        let commit = try Self.decodedBody(.txnOffsetCommit, version: 2) { buffer in
            buffer.writeKafka("billing-tx")
            buffer.writeKafka("billing")
            buffer.writeKafka(Int64(4000))
            buffer.writeKafka(Int16(3))
            buffer.writeKafka(Int32(1))
            buffer.writeKafka("orders")
            buffer.writeKafka(Int32(2))
            buffer.writeKafka(Int32(0))
            buffer.writeKafka(Int64(17))
            buffer.writeKafka(Int32(5))
            buffer.writeKafka("m")
            buffer.writeKafka(Int32(1))
            buffer.writeKafka(Int64(0))
            buffer.writeKafka(Int32(5))
            buffer.writeKafka(String?.none)
        }
        guard case .txnOffsetCommit(let committed) = commit else { throw KafkaDecodingError(.invalid, "not txnOffsetCommit") }
        #expect(committed == Self.txnOffsetCommit)
    }

    @Test("a TxnOffsetCommit v0 or v1 carrying a v2 leader epoch is refused, not misread")
    func txnOffsetCommitVersionMismatch() {
        let error = #expect(throws: KafkaDecodingError.self) {
            try KafkaRequest.decode(
                frame: frame(.txnOffsetCommit, version: 1) { Self.txnOffsetCommit.encode(into: &$0, version: 2) })
        }
        #expect(error?.code == .invalid, "the leader epochs are left over after the last field of v1")
    }

    /// A reader of response bytes as a client reads them, field by field.
    struct ResponseReader {
        struct Truncated: Error {}
        var buffer: ByteBuffer

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let value = buffer.readInteger(as: T.self) else { throw Truncated() }
            return value
        }

        mutating func string() throws -> String {
            let length = try integer(Int16.self)
            guard let value = buffer.readString(length: Int(length)) else { throw Truncated() }
            return value
        }
    }

    @Test(
        "AddPartitionsToTxn and TxnOffsetCommit responses: throttle time, then per topic its name and per partition index and error",
        arguments: Int16(0)...2)
    func topicResponses(version: Int16) throws {
        var addPartitions = ByteBuffer()
        AddPartitionsToTxnResponse(topics: [
            .init(name: "orders", partitions: [.init(index: 0), .init(index: 2, errorCode: .concurrentTransactions)]),
            .init(name: "audit", partitions: []),
        ])
        .encode(into: &addPartitions, version: version)
        var txnOffsetCommit = ByteBuffer()
        TxnOffsetCommitResponse(topics: [
            .init(name: "orders", partitions: [.init(index: 0), .init(index: 2, errorCode: .concurrentTransactions)]),
            .init(name: "audit", partitions: []),
        ])
        .encode(into: &txnOffsetCommit, version: version)

        for bytes in [addPartitions, txnOffsetCommit] {
            var reader = ResponseReader(buffer: bytes)
            #expect(try reader.integer(Int32.self) == 0)  // throttle_time_ms, in every version
            #expect(try reader.integer(Int32.self) == 2)  // topics
            #expect(try reader.string() == "orders")
            #expect(try reader.integer(Int32.self) == 2)  // partitions
            #expect(try reader.integer(Int32.self) == 0)
            #expect(try reader.integer(Int16.self) == 0)
            #expect(try reader.integer(Int32.self) == 2)
            #expect(try reader.integer(Int16.self) == 51)
            #expect(try reader.string() == "audit")
            #expect(try reader.integer(Int32.self) == 0)
            #expect(reader.buffer.readableBytes == 0)
        }
    }

    @Test("AddOffsetsToTxn and EndTxn responses: throttle time, then the error code", arguments: Int16(0)...2)
    func errorResponses(version: Int16) throws {
        var addOffsets = ByteBuffer()
        AddOffsetsToTxnResponse(errorCode: .producerFenced).encode(into: &addOffsets, version: version)
        var end = ByteBuffer()
        EndTxnResponse(errorCode: .invalidTxnState).encode(into: &end, version: version)
        var success = ByteBuffer()
        EndTxnResponse().encode(into: &success, version: version)

        for (bytes, code) in [(addOffsets, Int16(90)), (end, 48), (success, 0)] {
            var reader = ResponseReader(buffer: bytes)
            #expect(try reader.integer(Int32.self) == 0)  // throttle_time_ms, in every version
            #expect(try reader.integer(Int16.self) == code)
            #expect(reader.buffer.readableBytes == 0)
        }
    }
}
