import LogStore
import NIOCore
import Testing

@testable import KafkaProtocol

/// The decoder reads untrusted bytes: whatever a client sends, it returns a
/// request or throws `KafkaDecodingError`; it never traps and never allocates
/// for a count the bytes cannot hold.
@Suite("Kafka request decoder on random and mutated frames")
struct KafkaRequestFuzzTests {
    /// Valid frames of several APIs, to mutate.
    static func seeds() -> [ByteBuffer] {
        var records = ByteBuffer()
        records.writeBytes(Array(repeating: 0xAB, count: 40))
        let produce = ProduceRequest(
            acks: 1, timeoutMilliseconds: 100, topics: [.init(name: "t", partitions: [.init(index: 0, records: records)])])
        let fetch = FetchRequest(
            maxWaitMilliseconds: 100, minBytes: 1, maxBytes: 1000,
            topics: [.init(name: "t", partitions: [.init(index: 0, fetchOffset: 3, maxBytes: 100)])])
        return [
            frame(.apiVersions, version: 0),
            frame(.metadata, version: 8) { buffer in
                buffer.writeKafka(Int32(1))
                buffer.writeKafka("t")
                buffer.writeKafka(true)
                buffer.writeKafka(false)
                buffer.writeKafka(false)
            },
            frame(.produce, version: 8) { produce.encode(into: &$0, version: 8) },
            frame(.fetch, version: 11) { fetch.encode(into: &$0, version: 11) },
            frame(.joinGroup, version: 5) { GroupRequestTests.join.encode(into: &$0, version: 5) },
            frame(.offsetCommit, version: 7) { buffer in
                buffer.writeKafka("g")
                buffer.writeKafka(Int32(-1))
                buffer.writeKafka("")
                buffer.writeKafka(String?.none)
                buffer.writeKafka(Int32(1))
                buffer.writeKafka("t")
                buffer.writeKafka(Int32(1))
                buffer.writeKafka(Int32(0))
                buffer.writeKafka(Int64(5))
                buffer.writeKafka(Int32(-1))
                buffer.writeKafka("meta")
            },
            frame(.createTopics, version: 4) { buffer in
                CreateTopicsRequest(topics: [
                    .init(
                        name: "t", partitionCount: -1, replicationFactor: -1, assignments: [(partition: 0, brokers: [0])],
                        configs: [("cleanup.policy", "compact"), ("retention.ms", nil)])
                ]).encode(into: &buffer, version: 4)
            },
            frame(.deleteTopics, version: 3) { DeleteTopicsRequest(topics: ["t", "u"]).encode(into: &$0, version: 3) },
            frame(.createPartitions, version: 1) {
                CreatePartitionsRequest(topics: [
                    .init(name: "t", count: 3, assignments: [[0], [0]]), .init(name: "u", count: 2),
                ])
                .encode(into: &$0, version: 1)
            },
            frame(.addPartitionsToTxn, version: 2) { TransactionRequestTests.addPartitions.encode(into: &$0, version: 2) },
            frame(.addOffsetsToTxn, version: 2) { TransactionRequestTests.addOffsets.encode(into: &$0, version: 2) },
            frame(.endTxn, version: 2) { TransactionRequestTests.endTxn.encode(into: &$0, version: 2) },
            frame(.txnOffsetCommit, version: 2) { TransactionRequestTests.txnOffsetCommit.encode(into: &$0, version: 2) },
        ]
    }

    @Test("every seed frame decodes")
    func seedsDecode() throws {
        for seed in Self.seeds() { _ = try KafkaRequest.decode(frame: seed) }
    }

    @Test("random bytes, truncations and byte flips of valid frames only ever throw KafkaDecodingError")
    func mutatedFrames() {
        var generator = SeededGenerator(seed: 0x5EED)
        let seeds = Self.seeds()
        func check(_ bytes: [UInt8]) {
            do {
                _ = try KafkaRequest.decode(frame: ByteBuffer(bytes: bytes))
            } catch {
                // Typed throws: nothing else can come out.
                _ = error.code
            }
        }
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<64, using: &generator)
            check((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        for seed in seeds {
            let bytes = Array(seed.readableBytesView)
            for cut in 0..<bytes.count { check(Array(bytes[0..<cut])) }
            for _ in 0..<2_000 {
                var mutated = bytes
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let position = Int.random(in: 0..<mutated.count, using: &generator)
                    mutated[position] = UInt8.random(in: 0...255, using: &generator)
                }
                check(mutated)
            }
        }
    }
}
