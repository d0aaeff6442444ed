import Foundation
import KafkaProtocol
import Logging
import SystemPackage
import Testing

@testable import KafkaServer
@testable import LogStore

/// Kafka transactions in the server (docs/KAFKA.md, "Transactions"): the
/// produce checks, the markers, the last stable offset, and what a start
/// finishes of what a crash left.
@Suite struct TransactionTests {
    let directory: FilePath
    let logger = Logger(label: "test.transactions")

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-txn-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = FilePath(base.path)
    }

    /// A transactional batch as a producer sends it.
    static func transactional(_ values: [String], producer: Int64, epoch: Int16, sequence: Int32) -> [UInt8] {
        var bytes = IdempotenceTests.batch(values, producer: producer, epoch: epoch, sequence: sequence)
        bytes.withUnsafeMutableBytes { raw in
            let pointer = raw.baseAddress!
            pointer.storeBigEndian(BatchLayout.transactional, at: BatchLayout.attributes)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[BatchLayout.attributes...]))
            pointer.storeBigEndian(crc, at: BatchLayout.crc)
        }
        return bytes
    }

    /// Every stored batch of the log: offsets, producer id, marker.
    static func batches(_ log: Log) throws -> [RecordBatchSummary] {
        var summaries: [RecordBatchSummary] = []
        try log.readRecordBatches(from: log.lowestOffset, maxBytes: 1 << 20) { summaries.append(RecordBatchSummary(batch: $0)!) }
        return summaries
    }

    struct Server {
        let topics: TopicRegistry
        let states: ProducerStates
        let coordinator: TransactionCoordinator
    }

    func server() -> Server {
        let topics = TopicRegistry(directory: directory, logger: logger)
        let states = ProducerStates(logger: logger)
        let coordinator = TransactionCoordinator(
            directory: directory, topics: topics, producerStates: states, producerIDs: ProducerIDs(directory: directory),
            logger: logger)
        states.connect(coordinator)
        return Server(topics: topics, states: states, coordinator: coordinator)
    }

    @Test func aBatchNeedsItsTransactionAndAnAbortIsListedForReadCommittedConsumers() throws {
        let server = server()
        try server.topics.create("t", partitions: 1, config: LogConfig())
        let log = try #require(try server.topics.log("t"))
        let partition = TopicPartition(topic: "t", partition: 0)
        try log.append(Record("plain"))
        let (producer, epoch) = try server.coordinator.initProducer("app", timeoutMilliseconds: 60_000)
        func append(_ values: [String], epoch: Int16, sequence: Int32) throws -> Range<Int64> {
            let batch = Self.transactional(values, producer: producer, epoch: epoch, sequence: sequence)
            guard
                case .appended(let receipt) = try batch.withUnsafeBytes({ try server.states.append($0, to: log, of: partition) })
            else { throw LogStoreError(.invalidArgument, "not appended") }
            return receipt.offsets
        }
        // Not in a transaction yet: refused, nothing stored.
        #expect(throws: ProducerStates.Refusal.self) { try append(["early"], epoch: epoch, sequence: 0) }
        #expect(log.nextOffset == 1)

        #expect(
            server.coordinator.addPartitions("app", producerID: producer, epoch: epoch, partitions: [partition]) == [
                partition: .none
            ])
        #expect(try append(["a", "b"], epoch: epoch, sequence: 0) == 1..<3)
        try log.append(Record("after"))
        var stable = try server.states.readCommitted(log, partition, from: 0, end: log.nextOffset)
        #expect(stable.lastStableOffset == 1, "held at the open transaction's first batch")

        // A new producer of the id aborts the open transaction and fences the old epoch.
        let (sameProducer, newEpoch) = try server.coordinator.initProducer("app", timeoutMilliseconds: 60_000)
        #expect(sameProducer == producer && newEpoch == epoch + 1)
        let batches = try Self.batches(log)
        #expect(
            batches.last?.marker == .abort && batches.last?.offsets == 4..<5 && batches.last?.producer?.producerID == producer)
        stable = try server.states.readCommitted(log, partition, from: 0, end: log.nextOffset)
        #expect(stable.lastStableOffset == 5)
        #expect(stable.aborted == [AbortedTransaction(producerID: producer, firstOffset: 1, lastOffset: 4)])
        #expect(try AbortedTransaction.load(from: log.directory) == stable.aborted, "kept beside the log")
        do {
            _ = try append(["late"], epoch: epoch, sequence: 2)
            Issue.record("a fenced epoch appended")
        } catch let refusal as ProducerStates.Refusal {
            #expect(refusal.code == .invalidProducerEpoch)
        }
        #expect(
            server.coordinator.endTransaction("app", producerID: producer, epoch: epoch, commit: true) == .invalidProducerEpoch)

        // The markers are no records: readers of records skip them.
        #expect(
            try log.read(from: 0, maxRecords: 10).compactMap { $0.value.map { String(decoding: $0, as: UTF8.self) } } == [
                "plain", "a", "b", "after",
            ])
        try log.close()
        #expect(try Log.verify(directory: log.directory).isClean)
    }

    @Test func aTransactionPastItsTimeoutIsAbortedAndItsProducerFenced() throws {
        let server = server()
        try server.topics.create("t", partitions: 1, config: LogConfig())
        let log = try #require(try server.topics.log("t"))
        let partition = TopicPartition(topic: "t", partition: 0)
        #expect(throws: TransactionCoordinator.Refusal.self) {
            try server.coordinator.initProducer("slow", timeoutMilliseconds: TransactionCoordinator.maxTimeoutMilliseconds + 1)
        }
        let (producer, epoch) = try server.coordinator.initProducer("slow", timeoutMilliseconds: 1000)
        #expect(
            server.coordinator.addPartitions("slow", producerID: producer, epoch: epoch, partitions: [partition]) == [
                partition: .none
            ])
        let batch = Self.transactional(["x"], producer: producer, epoch: epoch, sequence: 0)
        _ = try batch.withUnsafeBytes { try server.states.append($0, to: log, of: partition) }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        server.coordinator.abortExpired(now: now)
        #expect(try Self.batches(log).last?.marker == nil, "within its timeout")
        server.coordinator.abortExpired(now: now + 60_000)
        #expect(try Self.batches(log).last?.marker == .abort)
        #expect(
            server.coordinator.endTransaction("slow", producerID: producer, epoch: epoch, commit: true) == .invalidProducerEpoch)
        let stable = try server.states.readCommitted(log, partition, from: 0, end: log.nextOffset)
        #expect(stable.lastStableOffset == log.nextOffset && stable.aborted.count == 1)
        server.topics.closeAll()
        #expect(try Log.verify(directory: log.directory).isClean)
    }

    @Test func aStartFinishesADecidedCommitAndAbortsATransactionNobodyEnds() throws {
        // What a crash between EndTxn's decision and its markers leaves: the coordinator's file says
        // prepareCommit, the log has the batches but no marker. Producer 9's batch has no transaction at all.
        do {
            let topics = TopicRegistry(directory: directory, logger: logger)
            try topics.create("t", partitions: 1, config: LogConfig())
            let log = try #require(try topics.log("t"))
            try log.append(Record("plain"))
            for (producer, values) in [(Int64(5), ["c0", "c1"]), (9, ["orphan"])] {
                let batch = Self.transactional(values, producer: producer, epoch: 0, sequence: 0)
                _ = try batch.withUnsafeBytes { try log.appendRecordBatch($0) }
            }
            try log.sync()
            topics.closeAll()
            let saved = """
                {"app":{"producerID":5,"epoch":0,"timeoutMilliseconds":60000,"state":"prepareCommit","startedAt":0,
                "partitions":[{"topic":"t","partition":0,"start":1}],"groups":["g"],
                "offsets":[{"group":"g","topic":"t","partition":0,"offset":3,"metadata":"m"}]}}
                """
            try LogMetadataFile.write(Array(saved.utf8), named: TransactionCoordinator.fileName, in: directory)
        }
        let server = server()
        try server.coordinator.recover()
        let log = try #require(try server.topics.log("t"))
        let markers = try Self.batches(log).compactMap { batch in batch.marker.map { (batch.producer?.producerID, $0) } }
        #expect(markers.map(\.0) == [9, 5] && markers.map(\.1) == [.abort, .commit], "\(markers)")
        #expect(try log.committedOffset(group: "g")?.offset == 3, "the committed transaction's offsets")
        let stable = try server.states.readCommitted(
            log, TopicPartition(topic: "t", partition: 0), from: 0, end: log.nextOffset)
        #expect(stable.lastStableOffset == log.nextOffset)
        #expect(stable.aborted == [AbortedTransaction(producerID: 9, firstOffset: 3, lastOffset: 4)])
        let state = String(decoding: try #require(try LogMetadataFile.read(named: "transactions", in: directory)), as: UTF8.self)
        #expect(state.contains("\"completeCommit\""), "\(state)")
        // Ended once: a second start changes nothing.
        let end = log.nextOffset
        server.topics.closeAll()
        let again = self.server()
        try again.coordinator.recover()
        let reopened = try #require(try again.topics.log("t"))
        _ = try again.states.readCommitted(reopened, TopicPartition(topic: "t", partition: 0), from: 0, end: end)
        #expect(reopened.nextOffset == end)
        again.topics.closeAll()
        #expect(try Log.verify(directory: reopened.directory).isClean)
    }
}
