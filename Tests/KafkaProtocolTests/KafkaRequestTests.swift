import NIOCore
import Testing

@testable import KafkaProtocol

#if canImport(Glibc)
import Glibc
#endif

/// A frame as a client sends it (without the length prefix): header v1, then `body`.
func frame(_ api: APIKey, version: Int16, correlationID: Int32 = 7, _ body: (inout ByteBuffer) -> Void = { _ in }) -> ByteBuffer {
    var buffer = ByteBuffer()
    RequestHeader(apiKey: api.rawValue, apiVersion: version, correlationID: correlationID, clientID: "tests").encode(
        into: &buffer)
    body(&buffer)
    return buffer
}

@Suite("Kafka requests: header, versions and bodies")
struct KafkaRequestTests {
    @Test("the header is read back whole, and the api and version are checked against the advertised ranges")
    func header() throws {
        let request = try KafkaRequest.decode(frame: frame(.apiVersions, version: 2, correlationID: 42))
        #expect(request.header == RequestHeader(apiKey: 18, apiVersion: 2, correlationID: 42, clientID: "tests"))
        #expect(request.api == .apiVersions)

        let tooNew = #expect(throws: KafkaDecodingError.self) { try KafkaRequest.decode(frame: frame(.apiVersions, version: 3)) }
        #expect(tooNew?.code == .unsupportedVersion)
        // The header alone still reads, so the server can answer with the v0 error body.
        #expect(try KafkaRequest.decodeHeader(frame: frame(.apiVersions, version: 3)).apiVersion == 3)

        var unknown = ByteBuffer()
        RequestHeader(apiKey: 57, apiVersion: 0, correlationID: 1, clientID: nil).encode(into: &unknown)
        let unknownError = #expect(throws: KafkaDecodingError.self) { try KafkaRequest.decode(frame: unknown) }
        #expect(unknownError?.code == .unknownAPI)

        let produceV2 = #expect(throws: KafkaDecodingError.self) { try KafkaRequest.decode(frame: frame(.produce, version: 2)) }
        #expect(produceV2?.code == .unsupportedVersion)
    }

    @Test("every advertised version stays below the API's first flexible version")
    func advertisedVersions() {
        let flexibleFrom: [APIKey: Int16] = [
            .produce: 9, .fetch: 12, .listOffsets: 6, .metadata: 9, .offsetCommit: 8, .offsetFetch: 6, .findCoordinator: 3,
            .joinGroup: 6, .heartbeat: 4, .leaveGroup: 4, .syncGroup: 4, .describeGroups: 5, .listGroups: 3, .apiVersions: 3,
            .initProducerId: 2, .createTopics: 5, .deleteTopics: 4, .describeConfigs: 4, .alterConfigs: 2,
            .createPartitions: 2, .addPartitionsToTxn: 3, .addOffsetsToTxn: 3, .endTxn: 3, .txnOffsetCommit: 3,
        ]
        for api in APIKey.allCases {
            #expect(api.supportedVersions.upperBound < flexibleFrom[api, default: 0], "\(api)")
        }
    }

    @Test("an ApiVersions error answer has the v0 layout: error, count, (key, min, max), no throttle time")
    func apiVersionsErrorLayout() {
        var buffer = ByteBuffer()
        ApiVersionsResponse(errorCode: .unsupportedVersion).encode(into: &buffer, version: 0)
        let count = APIKey.allCases.count
        #expect(buffer.readableBytes == 2 + 4 + 6 * count)
        #expect(buffer.getInteger(at: 0, as: Int16.self) == 35)
        #expect(buffer.getInteger(at: 2, as: Int32.self) == Int32(count))
        var v2 = ByteBuffer()
        ApiVersionsResponse().encode(into: &v2, version: 2)
        #expect(v2.readableBytes == 2 + 4 + 6 * count + 4)
    }

    @Test("Metadata: in v0 an empty topic list means every topic; from v1 null means every topic and empty none")
    func metadataTopicLists() throws {
        func topics(_ version: Int16, count: Int32, names: [String] = []) throws -> [String]? {
            let request = try KafkaRequest.decode(
                frame: frame(.metadata, version: version) { buffer in
                    buffer.writeKafka(count)
                    for name in names { buffer.writeKafka(name) }
                    if version >= 4 { buffer.writeKafka(false) }
                    if version >= 8 {
                        buffer.writeKafka(false)
                        buffer.writeKafka(false)
                    }
                })
            guard case .metadata(let metadata) = request.body else {
                Issue.record("not a metadata request")
                return nil
            }
            return metadata.topics
        }
        #expect(try topics(0, count: 0) == nil)
        #expect(try topics(1, count: -1) == nil)
        #expect(try topics(1, count: 0) == [])
        #expect(try topics(8, count: 2, names: ["a", "b"]) == ["a", "b"])
    }

    @Test("Produce and Fetch requests round-trip through encode and decode at every advertised version")
    func produceAndFetchRoundTrip() throws {
        var records = ByteBuffer()
        records.writeBytes([1, 2, 3, 4])
        let produce = ProduceRequest(
            acks: -1, timeoutMilliseconds: 1500,
            topics: [.init(name: "orders", partitions: [.init(index: 0, records: records), .init(index: 1, records: nil)])])
        for version in APIKey.produce.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.produce, version: version) { produce.encode(into: &$0, version: version) })
            guard case .produce(let body) = decoded.body else { throw KafkaDecodingError(.invalid, "not produce") }
            #expect(body == produce)
        }
        let fetch = FetchRequest(
            maxWaitMilliseconds: 500, minBytes: 1, maxBytes: 52_428_800,
            topics: [.init(name: "orders", partitions: [.init(index: 0, fetchOffset: 17, maxBytes: 1_048_576)])])
        for version in APIKey.fetch.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.fetch, version: version) { fetch.encode(into: &$0, version: version) })
            guard case .fetch(let body) = decoded.body else { throw KafkaDecodingError(.invalid, "not fetch") }
            #expect(body == fetch)
        }
    }

    @Test(
        "CreateTopics requests round-trip at every advertised version; the response has throttle time, then name, code, message per topic"
    )
    func createTopicsRoundTrip() throws {
        let request = CreateTopicsRequest(
            topics: [
                .init(
                    name: "a", partitionCount: -1, replicationFactor: -1, configs: [("cleanup.policy", "compact"), ("x", nil)]),
                .init(name: "b", partitionCount: -1, replicationFactor: -1, assignments: [(partition: 0, brokers: [0])]),
            ], timeoutMilliseconds: 1234, validateOnly: true)
        for version in APIKey.createTopics.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.createTopics, version: version) { request.encode(into: &$0, version: version) })
            guard case .createTopics(let body) = decoded.body else { throw KafkaDecodingError(.invalid, "not createTopics") }
            #expect(body == request)
        }
        var response = ByteBuffer()
        CreateTopicsResponse(topics: [.init(name: "a", errorCode: .invalidPartitions, errorMessage: "one")])
            .encode(into: &response, version: 4)
        var expected = ByteBuffer()
        expected.writeInteger(Int32(0))
        expected.writeInteger(Int32(1))
        expected.writeInteger(Int16(1))
        expected.writeString("a")
        expected.writeInteger(Int16(37))
        expected.writeInteger(Int16(3))
        expected.writeString("one")
        #expect(response == expected)
    }

    @Test(
        "CreatePartitions requests round-trip at every advertised version, a null assignment too; the response has throttle time, then name, code, message per topic"
    )
    func createPartitionsRoundTrip() throws {
        let request = CreatePartitionsRequest(
            topics: [.init(name: "a", count: 4), .init(name: "b", count: 3, assignments: [[0], [0, 1]])],
            timeoutMilliseconds: 1234, validateOnly: true)
        for version in APIKey.createPartitions.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.createPartitions, version: version) { request.encode(into: &$0, version: version) })
            guard case .createPartitions(let body) = decoded.body else {
                throw KafkaDecodingError(.invalid, "not createPartitions")
            }
            #expect(body == request)
        }
        var response = ByteBuffer()
        CreatePartitionsResponse(topics: [
            .init(name: "a", errorCode: .invalidPartitions, errorMessage: "one"), .init(name: "b"),
        ])
        .encode(into: &response, version: 1)
        var expected = ByteBuffer()
        expected.writeInteger(Int32(0))
        expected.writeInteger(Int32(2))
        expected.writeInteger(Int16(1))
        expected.writeString("a")
        expected.writeInteger(Int16(37))
        expected.writeInteger(Int16(3))
        expected.writeString("one")
        expected.writeInteger(Int16(1))
        expected.writeString("b")
        expected.writeInteger(Int16(0))
        expected.writeInteger(Int16(-1))
        #expect(response == expected)
    }

    @Test(
        "DeleteTopics requests round-trip at every advertised version; the response has throttle time, then name and code per topic"
    )
    func deleteTopicsRoundTrip() throws {
        let request = DeleteTopicsRequest(topics: ["a", "b"], timeoutMilliseconds: 999)
        for version in APIKey.deleteTopics.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.deleteTopics, version: version) { request.encode(into: &$0, version: version) })
            guard case .deleteTopics(let body) = decoded.body else { throw KafkaDecodingError(.invalid, "not deleteTopics") }
            #expect(body == request)
        }
        var response = ByteBuffer()
        DeleteTopicsResponse(topics: [(name: "a", errorCode: .unknownTopicOrPartition)]).encode(into: &response, version: 3)
        var expected = ByteBuffer()
        expected.writeInteger(Int32(0))
        expected.writeInteger(Int32(1))
        expected.writeInteger(Int16(1))
        expected.writeString("a")
        expected.writeInteger(Int16(3))
        #expect(response == expected)
    }

    @Test("Kafka's topic names: 1-249 of a-z A-Z 0-9 . _ -, not . or ..")
    func topicNames() {
        for name in ["a", "orders.v2", "A_b-c", String(repeating: "x", count: 249), ".hidden", "..."] {
            #expect(KafkaTopicName.problem(with: name) == nil, "\(name)")
        }
        for name in ["", ".", "..", "a b", "a/b", "not#legal", "é", String(repeating: "x", count: 250)] {
            #expect(KafkaTopicName.problem(with: name) != nil, "\(name)")
        }
    }

    @Test("bytes after the last field of a version are refused, not ignored")
    func trailingBytes() {
        let error = #expect(throws: KafkaDecodingError.self) {
            try KafkaRequest.decode(frame: frame(.apiVersions, version: 1) { $0.writeKafka(Int32(5)) })
        }
        #expect(error?.code == .invalid)
    }

    @Test("response frames carry their size and the correlation id")
    func responseFrame() {
        var buffer = ByteBuffer()
        KafkaResponseFrame.write(correlationID: 99, into: &buffer) { body in
            FindCoordinatorResponse(nodeID: 0, host: "127.0.0.1", port: 9092).encode(into: &body, version: 0)
        }
        #expect(buffer.getInteger(at: 0, as: Int32.self) == Int32(buffer.readableBytes - 4))
        #expect(buffer.getInteger(at: 4, as: Int32.self) == 99)
    }

    @Test(
        "a Fetch response in parts: each partition's batches are parts of their own, bytes or a file's region; the parts joined are the frame, field by field",
        arguments: Int16(4)...11)
    func fetchResponseParts(version: Int16) throws {
        let first = ByteBuffer(bytes: Array(repeating: 0xAB, count: 300))
        let second = ByteBuffer(bytes: Array(repeating: 0xCD, count: 5))
        // A region of a file: 9 bytes from position 3 (what the server sends with sendfile).
        var template = Array("/tmp/fetch-region-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        try #require(descriptor >= 0)
        unlink(template)
        let fileBytes: [UInt8] = [1, 2, 3] + Array(repeating: 0xEF, count: 9) + [4]
        #expect(write(descriptor, fileBytes, fileBytes.count) == fileBytes.count)
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        defer { try? handle.close() }
        let region = IOData.fileRegion(FileRegion(fileHandle: handle, readerIndex: 3, endIndex: 12))
        let response = FetchResponse(topics: [
            .init(
                name: "a",
                partitions: [
                    .init(index: 0, errorCode: .none, highWatermark: 10, logStartOffset: 2, records: FetchRecords(first)),
                    .init(index: 1, errorCode: .unknownTopicOrPartition, highWatermark: -1, logStartOffset: -1, records: nil),
                ]),
            .init(
                name: "b",
                partitions: [
                    .init(
                        index: 0, errorCode: .none, highWatermark: 5, logStartOffset: 0,
                        records: FetchRecords(parts: [.byteBuffer(second), region]))
                ]),
        ])
        let parts = KafkaResponseFrame.parts(correlationID: 42, body: response.encodeParts(version: version))
        #expect(parts.count == 7, "prefix, fields, batches of a, fields, batches of b (bytes and a region), the rest")
        #expect(parts[2] == .byteBuffer(first) && parts[4] == .byteBuffer(second) && parts[5] == region)
        var joined = ByteBuffer()
        for part in parts { try part.write(into: &joined) }
        var encoded = ByteBuffer()
        var encodeError: (any Error)?
        KafkaResponseFrame.write(correlationID: 42, into: &encoded) {
            do { try response.encode(into: &$0, version: version) } catch { encodeError = error }
        }
        #expect(encodeError == nil)
        #expect(joined == encoded)

        // Field by field, as a client reads it.
        #expect(joined.readInteger(as: Int32.self) == Int32(joined.readableBytes))
        #expect(joined.readInteger(as: Int32.self) == 42)
        #expect(joined.readInteger(as: Int32.self) == 0)  // throttle
        if version >= 7 {
            #expect(joined.readInteger(as: Int16.self) == 0)
            #expect(joined.readInteger(as: Int32.self) == 0)  // session id
        }
        #expect(joined.readInteger(as: Int32.self) == 2)  // topics
        struct Truncated: Error {}
        func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let value = joined.readInteger(as: T.self) else { throw Truncated() }
            return value
        }
        var batches: [[UInt8]?] = []
        for name in ["a", "b"] {
            let length = try read(Int16.self)
            #expect(joined.readString(length: Int(length)) == name)
            let count = try read(Int32.self)
            for _ in 0..<count {
                _ = joined.readInteger(as: Int32.self)  // index
                _ = joined.readInteger(as: Int16.self)  // error
                _ = joined.readInteger(as: Int64.self)  // high watermark
                _ = joined.readInteger(as: Int64.self)  // last stable offset
                if version >= 5 { _ = joined.readInteger(as: Int64.self) }  // log start
                #expect(joined.readInteger(as: Int32.self) == 0)  // aborted transactions
                if version >= 11 { #expect(joined.readInteger(as: Int32.self) == -1) }
                let size = try read(Int32.self)
                batches.append(size < 0 ? nil : joined.readBytes(length: Int(size)))
            }
        }
        #expect(
            batches == [
                Array(repeating: 0xAB, count: 300), [], Array(repeating: 0xCD, count: 5) + Array(repeating: 0xEF, count: 9),
            ],
            "a partition without records has an empty record set, not null (librdkafka 2.0 cannot read -1)")
        #expect(joined.readableBytes == 0)
    }
}
