import Foundation
import KafkaProtocol
import LogStore
import Logging
import Synchronization
import SystemPackage

/// Kafka transactions (KIP-98) for the server: each transactional id's
/// producer id, epoch and current transaction, kept in the data directory's
/// `transactions` file (JSON, written as every metadata file is: temp file,
/// fsync, rename) before any answer depends on it. A transaction ends with a
/// marker in each of its partitions (`ProducerStates.end`), then its
/// offsets are committed (a commit) or dropped (an abort). On start, what a
/// crash left is finished: a transaction decided to commit commits, any
/// other open one aborts. docs/KAFKA.md, "Transactions".
///
/// Calls block (file writes, markers, syncs): callers run them on NIO's
/// thread pool. One transaction ends at a time (`lock`); a produce checks
/// its batch against `admission` alone, under its partition's lock, which the
/// markers take too, so a batch is in before its transaction's marker or refused.
final class TransactionCoordinator: Sendable, ProducerStates.Transactions {
    static let fileName = "transactions"
    /// Kafka's `transaction.max.timeout.ms` default: 15 minutes.
    static let maxTimeoutMilliseconds: Int32 = 900_000

    enum State: String, Codable {
        case empty, ongoing, prepareCommit, prepareAbort, completeCommit, completeAbort
    }

    struct PartitionEntry: Codable, Hashable {
        var topic: String
        var partition: Int32
        /// The partition's next offset when it joined the transaction: the transaction's first batch there is at or after it.
        var start: Int64
        var key: TopicPartition { TopicPartition(topic: topic, partition: partition) }
    }

    struct PendingOffset: Codable, Hashable {
        var group: String
        var topic: String
        var partition: Int32
        var offset: Int64
        var metadata: String?
    }

    struct Transaction: Codable {
        var producerID: Int64
        var epoch: Int16
        var timeoutMilliseconds: Int32
        var state: State
        var partitions: [PartitionEntry] = []
        var groups: [String] = []
        var offsets: [PendingOffset] = []
        /// Wall-clock milliseconds when the current transaction began.
        var startedAt: Int64 = 0
    }

    /// What a produce checks, per transactional producer id.
    struct Admission {
        var epoch: Int16
        /// The partitions of its transaction while it accepts batches; nil otherwise.
        var partitions: Set<TopicPartition>?
        /// Every partition of a transaction not yet ended (ongoing or being ended).
        var unended: Set<TopicPartition>
        var starts: [TopicPartition: Int64]
    }

    struct Refusal: Error {
        var code: ErrorCode
        var message: String
    }

    private let directory: FilePath
    private let topics: TopicRegistry
    private let producerStates: ProducerStates
    private let producerIDs: ProducerIDs
    private let logger: Logger
    /// Transactional id to its state: changed, and saved, under this lock.
    private let lock = Mutex<[String: Transaction]>([:])
    private let admission = Mutex<[Int64: Admission]>([:])

    init(directory: FilePath, topics: TopicRegistry, producerStates: ProducerStates, producerIDs: ProducerIDs, logger: Logger) {
        self.directory = directory
        self.topics = topics
        self.producerStates = producerStates
        self.producerIDs = producerIDs
        self.logger = logger
    }

    /// Loads the saved state and finishes what a crash interrupted: a
    /// transaction decided to commit commits, every other open one aborts.
    func recover() throws {
        try lock.withLock { transactions in
            if let bytes = try LogMetadataFile.read(named: Self.fileName, in: directory) {
                do {
                    transactions = try JSONDecoder().decode([String: Transaction].self, from: Data(bytes))
                } catch {
                    throw LogStoreError(
                        .corruption, "the transactions file does not parse: \(error)",
                        path: directory.appending(Self.fileName).string)
                }
            }
            for (id, transaction) in transactions { publish(transaction, of: id) }
            var finished = 0
            for (id, transaction) in transactions {
                switch transaction.state {
                case .ongoing, .prepareAbort: try end(id, commit: false, in: &transactions)
                case .prepareCommit: try end(id, commit: true, in: &transactions)
                case .empty, .completeCommit, .completeAbort: continue
                }
                finished += 1
            }
            if finished > 0 { logger.notice("kafka.transactions_recovered", metadata: ["kafka.transactions": "\(finished)"]) }
        }
    }

    // MARK: - The requests

    /// InitProducerId with a transactional id: the id's producer id with its
    /// epoch bumped (fencing every older producer of the id), after aborting
    /// its open transaction; a new producer id for a new transactional id.
    func initProducer(_ transactionalID: String, timeoutMilliseconds: Int32) throws -> (Int64, Int16) {
        guard timeoutMilliseconds > 0, timeoutMilliseconds <= Self.maxTimeoutMilliseconds else {
            throw Refusal(
                code: .invalidTransactionTimeout,
                message: "transaction.timeout.ms \(timeoutMilliseconds) is not within 1...\(Self.maxTimeoutMilliseconds)")
        }
        return try lock.withLock { transactions in
            if var transaction = transactions[transactionalID] {
                switch transaction.state {
                case .ongoing, .prepareAbort: try end(transactionalID, commit: false, in: &transactions)
                case .prepareCommit: try end(transactionalID, commit: true, in: &transactions)
                case .empty, .completeCommit, .completeAbort: break
                }
                transaction = transactions[transactionalID] ?? transaction
                try bumpEpoch(&transaction)
                transaction.timeoutMilliseconds = timeoutMilliseconds
                transaction.state = .empty
                try save(transaction, as: transactionalID, in: &transactions)
                return (transaction.producerID, transaction.epoch)
            }
            let transaction = Transaction(
                producerID: try producerIDs.next(), epoch: 0, timeoutMilliseconds: timeoutMilliseconds, state: .empty)
            try save(transaction, as: transactionalID, in: &transactions)
            return (transaction.producerID, transaction.epoch)
        }
    }

    /// AddPartitionsToTxn: each partition joins the transaction (which begins
    /// with the first). All or none: when one cannot, the others get
    /// OPERATION_NOT_ATTEMPTED.
    func addPartitions(
        _ transactionalID: String, producerID: Int64, epoch: Int16, partitions: [TopicPartition]
    ) -> [TopicPartition: ErrorCode] {
        func all(_ code: ErrorCode) -> [TopicPartition: ErrorCode] {
            Dictionary(partitions.map { ($0, code) }, uniquingKeysWith: { first, _ in first })
        }
        var logs: [TopicPartition: Log] = [:]
        var failed: [TopicPartition: ErrorCode] = [:]
        for partition in partitions {
            guard let log = try? topics.log(partition.topic, partition: partition.partition) else {
                failed[partition] = .unknownTopicOrPartition
                continue
            }
            if log.isReadOnly { failed[partition] = .kafkaStorageError } else { logs[partition] = log }
        }
        if !failed.isEmpty { return all(.operationNotAttempted).merging(failed) { $1 } }
        do {
            try lock.withLock { transactions in
                var transaction = try current(transactionalID, producerID: producerID, epoch: epoch, in: transactions)
                begin(&transaction)
                let known = Set(transaction.partitions.map(\.key))
                for (partition, log) in logs.sorted(by: { ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition) })
                where !known.contains(partition) {
                    transaction.partitions.append(
                        PartitionEntry(topic: partition.topic, partition: partition.partition, start: log.nextOffset))
                }
                try save(transaction, as: transactionalID, in: &transactions)
            }
            return all(.none)
        } catch let refusal as Refusal {
            return all(refusal.code)
        } catch {
            logger.error(
                "kafka.transaction_failed", metadata: ["kafka.transactional_id": "\(transactionalID)", "error": "\(error)"])
            return all(.kafkaStorageError)
        }
    }

    /// AddOffsetsToTxn: the group's offsets will be committed with the transaction.
    func addOffsets(_ transactionalID: String, producerID: Int64, epoch: Int16, group: String) -> ErrorCode {
        answer(transactionalID) {
            try lock.withLock { transactions in
                var transaction = try current(transactionalID, producerID: producerID, epoch: epoch, in: transactions)
                begin(&transaction)
                if !transaction.groups.contains(group) { transaction.groups.append(group) }
                try save(transaction, as: transactionalID, in: &transactions)
            }
        }
    }

    /// TxnOffsetCommit: offsets kept with the transaction until it ends.
    func commitOffsets(
        _ transactionalID: String, producerID: Int64, epoch: Int16, group: String, offsets: [PendingOffset]
    ) -> ErrorCode {
        answer(transactionalID) {
            try lock.withLock { transactions in
                var transaction = try current(transactionalID, producerID: producerID, epoch: epoch, in: transactions)
                guard transaction.state == .ongoing, transaction.groups.contains(group) else {
                    throw Refusal(
                        code: .invalidTxnState, message: "group \(group) was not added to the transaction (AddOffsetsToTxn)")
                }
                for offset in offsets {
                    transaction.offsets.removeAll {
                        $0.group == offset.group && $0.topic == offset.topic && $0.partition == offset.partition
                    }
                    transaction.offsets.append(offset)
                }
                try save(transaction, as: transactionalID, in: &transactions)
            }
        }
    }

    /// EndTxn: commits or aborts the transaction. A retry of an end already
    /// done is answered as it was.
    func endTransaction(_ transactionalID: String, producerID: Int64, epoch: Int16, commit: Bool) -> ErrorCode {
        answer(transactionalID) {
            try lock.withLock { transactions in
                let transaction = try current(
                    transactionalID, producerID: producerID, epoch: epoch, in: transactions, ending: true)
                switch (transaction.state, commit) {
                // A decided end that failed half way (a marker's write) is finished by its retry.
                case (.ongoing, _), (.prepareCommit, true), (.prepareAbort, false):
                    try end(transactionalID, commit: commit, in: &transactions)
                case (.completeCommit, true), (.completeAbort, false): return
                default:
                    throw Refusal(
                        code: .invalidTxnState,
                        message:
                            "transaction of \(transactionalID) is \(transaction.state.rawValue): it cannot \(commit ? "commit" : "abort")"
                    )
                }
            }
        }
    }

    /// Aborts every transaction open longer than its timeout, and bumps its
    /// epoch so that its producer is fenced (as Kafka does); finishes an end
    /// decided that long ago which failed half way (a marker's write).
    func abortExpired(now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) {
        lock.withLock { transactions in
            for (id, transaction) in transactions where now - transaction.startedAt > Int64(transaction.timeoutMilliseconds) {
                do {
                    switch transaction.state {
                    case .prepareCommit, .prepareAbort:
                        try end(id, commit: transaction.state == .prepareCommit, in: &transactions)
                        continue
                    case .ongoing: break
                    case .empty, .completeCommit, .completeAbort: continue
                    }
                    try end(id, commit: false, in: &transactions)
                    var aborted = transactions[id] ?? transaction
                    try bumpEpoch(&aborted)
                    try save(aborted, as: id, in: &transactions)
                    logger.notice(
                        "kafka.transaction_timed_out",
                        metadata: ["kafka.transactional_id": "\(id)", "kafka.timeout_ms": "\(transaction.timeoutMilliseconds)"])
                } catch {
                    logger.error("kafka.transaction_failed", metadata: ["kafka.transactional_id": "\(id)", "error": "\(error)"])
                }
            }
        }
    }

    // MARK: - ProducerStates.Transactions

    func refusal(of producer: BatchProducer, in partition: TopicPartition) -> ProducerStates.Refusal? {
        admission.withLock { admission in
            guard let known = admission[producer.producerID] else {
                return ProducerStates.Refusal(
                    code: .invalidProducerIDMapping,
                    description: "producer \(producer.producerID) has no transactional id (InitProducerId)")
            }
            if producer.epoch < known.epoch {
                return ProducerStates.Refusal(
                    code: .invalidProducerEpoch,
                    description: "producer \(producer.producerID) epoch \(producer.epoch) is fenced by epoch \(known.epoch)")
            }
            guard producer.epoch == known.epoch, known.partitions?.contains(partition) == true else {
                return ProducerStates.Refusal(
                    code: .invalidTxnState,
                    description:
                        "\(partition.topic) [\(partition.partition)] is not in an open transaction of producer \(producer.producerID) epoch \(producer.epoch)"
                )
            }
            return nil
        }
    }

    func ends(_ producerID: Int64, in partition: TopicPartition) -> Bool {
        admission.withLock { $0[producerID]?.unended.contains(partition) == true }
    }

    func earliestStart(in partition: TopicPartition) -> Int64? {
        admission.withLock { admission in admission.values.compactMap { $0.starts[partition] }.min() }
    }

    // MARK: - Inside the lock

    private func answer(_ transactionalID: String, _ body: () throws -> Void) -> ErrorCode {
        do {
            try body()
            return .none
        } catch let refusal as Refusal {
            logger.debug(
                "kafka.transaction_refused",
                metadata: ["kafka.transactional_id": "\(transactionalID)", "reason": "\(refusal.message)"])
            return refusal.code
        } catch {
            logger.error(
                "kafka.transaction_failed", metadata: ["kafka.transactional_id": "\(transactionalID)", "error": "\(error)"])
            return .kafkaStorageError
        }
    }

    /// The transaction of `transactionalID` if `producerID` and `epoch` are its current producer's
    /// and it is not being ended (unless `ending`: EndTxn may finish an end decided before).
    private func current(
        _ transactionalID: String, producerID: Int64, epoch: Int16, in transactions: [String: Transaction],
        ending: Bool = false
    ) throws -> Transaction {
        guard let transaction = transactions[transactionalID], transaction.producerID == producerID else {
            throw Refusal(
                code: .invalidProducerIDMapping,
                message: "producer \(producerID) is not the producer of transactional id \(transactionalID)")
        }
        guard epoch == transaction.epoch else {
            throw Refusal(
                code: .invalidProducerEpoch,
                message: "epoch \(epoch) of producer \(producerID) is not the current \(transaction.epoch)")
        }
        switch transaction.state {
        case .prepareCommit where !ending, .prepareAbort where !ending:
            throw Refusal(code: .concurrentTransactions, message: "the transaction of \(transactionalID) is ending")
        default: return transaction
        }
    }

    /// The next epoch of the transactional id's producer; a new producer id once the epoch would overflow.
    private func bumpEpoch(_ transaction: inout Transaction) throws {
        if transaction.epoch >= Int16.max - 1 {
            transaction.producerID = try producerIDs.next()
            transaction.epoch = 0
        } else {
            transaction.epoch += 1
        }
    }

    /// Starts a new transaction unless one is ongoing.
    private func begin(_ transaction: inout Transaction) {
        guard transaction.state != .ongoing else { return }
        transaction.state = .ongoing
        transaction.partitions = []
        transaction.groups = []
        transaction.offsets = []
        transaction.startedAt = Int64(Date().timeIntervalSince1970 * 1000)
    }

    /// Ends the transaction of `id`: decided (saved), then a marker in each
    /// partition (synced), then its offsets committed, then complete (saved).
    private func end(_ id: String, commit: Bool, in transactions: inout [String: Transaction]) throws {
        guard var transaction = transactions[id] else { return }
        transaction.state = commit ? .prepareCommit : .prepareAbort
        try save(transaction, as: id, in: &transactions)
        let marker: TransactionMarker = commit ? .commit : .abort
        var written: [(Log, AppendReceipt)] = []
        for entry in transaction.partitions {
            // A topic deleted meanwhile has nothing left to end.
            guard let log = try topics.log(entry.topic, partition: entry.partition) else { continue }
            if let receipt = try producerStates.end(
                marker, producerID: transaction.producerID, epoch: transaction.epoch, in: log, of: entry.key)
            {
                written.append((log, receipt))
            }
        }
        for (log, _) in written { try log.sync() }
        if commit {
            for offset in transaction.offsets {
                guard let log = try topics.log(offset.topic, partition: offset.partition) else { continue }
                try log.commitOffset(offset.offset, metadata: Array((offset.metadata ?? "").utf8), group: offset.group)
            }
        }
        transaction.state = commit ? .completeCommit : .completeAbort
        transaction.partitions = []
        transaction.groups = []
        transaction.offsets = []
        try save(transaction, as: id, in: &transactions)
        logger.debug(
            "kafka.transaction_ended",
            metadata: ["kafka.transactional_id": "\(id)", "kafka.commit": "\(commit)", "kafka.markers": "\(written.count)"])
    }

    /// Saves every transaction with `transaction` as `id`'s, then lets produces see it.
    private func save(_ transaction: Transaction, as id: String, in transactions: inout [String: Transaction]) throws {
        var next = transactions
        next[id] = transaction
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try LogMetadataFile.write(Array(try encoder.encode(next)), named: Self.fileName, in: directory)
        transactions = next
        publish(transaction, of: id)
    }

    private func publish(_ transaction: Transaction, of id: String) {
        let partitions = Set(transaction.partitions.map(\.key))
        let open = [.ongoing, .prepareCommit, .prepareAbort].contains(transaction.state)
        admission.withLock { admission in
            admission[transaction.producerID] = Admission(
                epoch: transaction.epoch, partitions: transaction.state == .ongoing ? partitions : nil,
                unended: open ? partitions : [],
                starts: open ? Dictionary(transaction.partitions.map { ($0.key, $0.start) }, uniquingKeysWith: min) : [:])
        }
    }
}
