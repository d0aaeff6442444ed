import Foundation
import KafkaProtocol
import Logging
import NIOCore
import SystemPackage
import Testing

@testable import KafkaServer
@testable import LogStore

/// A fetch's size limits over several partitions: the response stays within
/// the request's max_bytes and each partition within its own, but for the
/// first batch of the response, which comes whole (KIP-74). librdkafka drops
/// the connection on a response over its receive.message.max.bytes (test 0082).
@Suite struct FetchLimitTests {
    @Test(
        "a fetch of three partitions, a 100 kB batch each: what fits in max_bytes, the first batch whole even over either limit, never a later one over them"
    )
    func fetchStaysWithinMaxBytes() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-fetch-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let directory = FilePath(base.path)
        let logger = Logger(label: "test")
        let topics = TopicRegistry(directory: directory, logger: logger)
        try topics.create("t", partitions: 3, config: LogConfig())
        let value = String(repeating: "x", count: 100_000)
        for partition: Int32 in 0..<3 {
            let log = try #require(try topics.log("t", partition: partition))
            _ = try await log.append(Record(value))
            try log.sync()
        }
        let producerIDs = ProducerIDs(directory: directory)
        let producerStates = ProducerStates(logger: logger)
        let handler = RequestHandler(
            topics: topics, advertisedHost: "127.0.0.1", advertisedPort: 9092, clusterID: "test", autoCreateTopics: false,
            coordinator: GroupCoordinator(logger: logger), producerIDs: producerIDs, producerStates: producerStates,
            transactions: TransactionCoordinator(
                directory: directory, topics: topics, producerStates: producerStates, producerIDs: producerIDs, logger: logger),
            logger: logger)
        func fetch(maxBytes: Int32, partitionMaxBytes: Int32) async throws -> [Int] {
            let (response, _) = try await handler.fetch(
                FetchRequest(
                    maxWaitMilliseconds: 0, minBytes: 1, maxBytes: maxBytes,
                    topics: [
                        .init(
                            name: "t",
                            partitions: (0..<3).map { .init(index: $0, fetchOffset: 0, maxBytes: partitionMaxBytes) })
                    ]))
            let partitions = try #require(response.topics.first?.partitions)
            #expect(partitions.map(\.index) == [0, 1, 2] && partitions.allSatisfy { $0.errorCode == .none })
            return partitions.map { $0.records?.byteCount ?? 0 }
        }
        let batch = try await fetch(maxBytes: 1 << 20, partitionMaxBytes: 1 << 20)[0]
        #expect(batch > 100_000 && batch < 101_000)
        #expect(try await fetch(maxBytes: 1 << 20, partitionMaxBytes: 1 << 20) == [batch, batch, batch])
        #expect(try await fetch(maxBytes: 250_000, partitionMaxBytes: 1 << 20) == [batch, batch, 0], "two fit, the third not")
        #expect(
            try await fetch(maxBytes: 50_000, partitionMaxBytes: 1 << 20) == [batch, 0, 0], "the first whole, over max_bytes")
        #expect(
            try await fetch(maxBytes: 1 << 20, partitionMaxBytes: 50_000) == [batch, 0, 0],
            "the first whole, over the partition's limit; later partitions only within theirs")

        // Batches this server appended go as regions of the store files (sendfile), whose
        // descriptors close when the response goes, written or not.
        let (response, files) = try await handler.fetch(
            FetchRequest(
                maxWaitMilliseconds: 0, minBytes: 1, maxBytes: 1 << 20,
                topics: [.init(name: "t", partitions: [.init(index: 0, fetchOffset: 0, maxBytes: 1 << 20)])]))
        let parts = try #require(response.topics.first?.partitions.first?.records?.parts)
        guard parts.count == 1, case .fileRegion(let region) = parts[0] else {
            Issue.record("not one file region: \(parts)")
            return
        }
        var stored = ByteBuffer()
        try parts[0].write(into: &stored)
        var expected = ByteBuffer()
        let log = try #require(try topics.log("t", partition: 0))
        try log.readRecordBatches(from: 0, maxBytes: 1 << 20) { expected.writeBytes($0) }
        #expect(stored == expected && region.readableBytes == batch)
        #expect(region.fileHandle.isOpen && files != nil)
        withExtendedLifetime(files) {}
        _ = consume files
        #expect(!region.fileHandle.isOpen, "closed with the response's files")

        topics.closeAll()
        for partition: Int32 in 0..<3 {
            let report = try Log.verify(directory: topics.path("t", partition: partition))
            #expect(report.problems.isEmpty && report.records == 1, "partition \(partition): \(report.problems)")
        }
    }
}
