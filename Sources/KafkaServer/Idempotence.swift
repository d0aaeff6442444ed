import KafkaProtocol
import LogStore
import Logging
import Synchronization
import SystemPackage

/// Producer ids for InitProducerId that never repeat, across restarts too:
/// they are reserved in blocks, and the end of the last reserved block is kept
/// in the data directory's `producer-ids` file (written as every metadata file
/// is: temp file, fsync, rename) before any id of the block is handed out.
final class ProducerIDs: Sendable {
    static let fileName = "producer-ids"
    static let blockSize: Int64 = 1000

    private let directory: FilePath
    /// The next id to hand out and the end of the reserved block; nil until first used.
    private let state = Mutex<(next: Int64, reservedEnd: Int64)?>(nil)

    init(directory: FilePath) {
        self.directory = directory
    }

    func next() throws -> Int64 {
        try state.withLock { state in
            var current = try state ?? Self.loadReservedEnd(directory).map { ($0, $0) } ?? (0, 0)
            if current.next >= current.reservedEnd {
                let end = current.next + Self.blockSize
                try LogMetadataFile.write(Array("\(end)\n".utf8), named: Self.fileName, in: directory)
                current.reservedEnd = end
            }
            let id = current.next
            state = (id + 1, current.reservedEnd)
            return id
        }
    }

    private static func loadReservedEnd(_ directory: FilePath) throws -> Int64? {
        guard let bytes = try LogMetadataFile.read(named: fileName, in: directory) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let end = Int64(text), end >= 0 else {
            throw LogStoreError(.corruption, "'\(text)' is not a producer id", path: directory.appending(fileName).string)
        }
        return end
    }
}

/// Kafka's producer state, per partition: for each idempotent producer its epoch
/// and its last 5 batches (sequences and offsets), so that a retried batch is
/// answered with its original offsets and stored once, and a gap in the
/// sequences is refused (KAFKA.md trap 12); and the partition's transactions:
/// those open (where each producer's first batch is, which bounds the last
/// stable offset) and those aborted (kept in the partition log's
/// `aborted-transactions` file). Rebuilt from the tail of the log (about its
/// last `rebuildBytes`, or from where a transaction the coordinator knows
/// started) the first time the partition is used.
final class ProducerStates: Sendable {
    static let batchesKept = 5
    static let rebuildBytes: Int64 = 64 << 20

    struct Batch {
        var firstSequence: Int32
        var lastSequence: Int32
        var offsets: Range<Int64>
        /// Nil for batches found on disk when rebuilding.
        var receipt: AppendReceipt?
    }

    struct Producer {
        var epoch: Int16
        var batches: [Batch] = []
    }

    enum Outcome {
        case appended(AppendReceipt)
        /// A retry of a batch already stored at these offsets.
        case duplicate(Range<Int64>, AppendReceipt?)
    }

    struct Refusal: Error, CustomStringConvertible {
        var code: ErrorCode
        var description: String
    }

    /// What the transaction coordinator says of a partition's transactional producers.
    protocol Transactions: Sendable {
        /// Why a transactional batch of `producer` may not be appended to `partition` now; nil when it may.
        func refusal(of producer: BatchProducer, in partition: TopicPartition) -> Refusal?
        /// Whether the coordinator has a transaction of `producerID` that holds `partition`
        /// (and so ends it); an open transaction nobody ends is aborted when found.
        func ends(_ producerID: Int64, in partition: TopicPartition) -> Bool
        /// Where the transactions the coordinator knows in `partition` started at the earliest.
        func earliestStart(in partition: TopicPartition) -> Int64?
    }

    /// One partition's producers and transactions.
    struct PartitionState {
        var producers: [Int64: Producer] = [:]
        /// Open transactions: producer id to the offset of its first batch here.
        var open: [Int64: Int64] = [:]
        var aborted: [AbortedTransaction] = []

        /// The end of the records a read_committed consumer may see.
        func lastStableOffset(end: Int64) -> Int64 { open.values.min().map { min($0, end) } ?? end }
    }

    /// One partition's state; nil until rebuilt from the log.
    final class Table: Sendable {
        let state = Mutex<PartitionState?>(nil)
    }

    private let tables = Mutex<[TopicPartition: Table]>([:])
    private let transactions = Mutex<(any Transactions)?>(nil)
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Connects the transaction coordinator (once, before serving).
    func connect(_ coordinator: any Transactions) {
        transactions.withLock { $0 = coordinator }
    }

    private var coordinator: (any Transactions)? { transactions.withLock { $0 } }

    /// Forgets the producers of a deleted topic: a topic made again under the name starts anew.
    func forget(topic: String) {
        tables.withLock { tables in tables = tables.filter { $0.key.topic != topic } }
    }

    private func table(_ partition: TopicPartition) -> Table {
        tables.withLock { tables in
            if let table = tables[partition] { return table }
            let table = Table()
            tables[partition] = table
            return table
        }
    }

    /// Whether appending `batch` to `partition` would first rebuild the
    /// partition's state from its log (a batch of an idempotent producer, and
    /// no state yet): reads of up to `rebuildBytes`.
    func mayRebuild(for batch: UnsafeRawBufferPointer, in partition: TopicPartition) -> Bool {
        guard RecordBatchSummary(batch: batch)?.producer != nil else { return false }
        guard let table = tables.withLock({ $0[partition] }) else { return true }
        return table.state.withLock { $0 == nil }
    }

    /// Calls `body` with the partition's state, rebuilt from `log` first if need be.
    private func withState<T>(_ log: Log, _ partition: TopicPartition, _ body: (inout PartitionState) throws -> T) throws -> T {
        try table(partition).state.withLock { state in
            var current = try state ?? rebuild(from: log, partition: partition)
            defer { state = current }
            return try body(&current)
        }
    }

    /// Appends `batch` to `log` (partition `partition`) unless it repeats one of its
    /// producer's last batches; checks its sequence against the producer's, and a
    /// transactional batch against its transaction (the coordinator's word).
    /// - Throws: `Refusal` (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
    ///   INVALID_TXN_STATE), or what `Log.appendRecordBatch` throws.
    func append(_ batch: UnsafeRawBufferPointer, to log: Log, of partition: TopicPartition) throws -> Outcome {
        guard let summary = RecordBatchSummary(batch: batch), let producer = summary.producer else {
            return .appended(try log.appendRecordBatch(batch))
        }
        return try withState(log, partition) { state in
            if let known = state.producers[producer.producerID] {
                if producer.epoch < known.epoch {
                    throw Refusal(
                        code: .invalidProducerEpoch,
                        description: "producer \(producer.producerID) epoch \(producer.epoch) is older than \(known.epoch)")
                }
                if producer.epoch == known.epoch {
                    if let stored = known.batches.first(where: {
                        $0.firstSequence == producer.baseSequence && $0.lastSequence == producer.lastSequence
                    }) {
                        return .duplicate(stored.offsets, stored.receipt)
                    }
                    if let last = known.batches.last,
                        producer.baseSequence != BatchProducer.sequence(last.lastSequence, plus: 1)
                    {
                        throw Refusal(
                            code: .outOfOrderSequenceNumber,
                            description:
                                "producer \(producer.producerID): sequence \(producer.baseSequence) after \(last.lastSequence)")
                    }
                } else if producer.baseSequence != 0 {
                    throw Refusal(
                        code: .outOfOrderSequenceNumber,
                        description:
                            "producer \(producer.producerID): a new epoch \(producer.epoch) starts at sequence \(producer.baseSequence), not 0"
                    )
                }
            }
            if summary.isTransactional {
                // Checked under this partition's lock, which the coordinator's markers take too: a batch
                // is either in before its transaction's marker or refused.
                guard let coordinator else {
                    throw Refusal(code: .invalidTxnState, description: "no transaction coordinator")
                }
                if let refusal = coordinator.refusal(of: producer, in: partition) { throw refusal }
            }
            let receipt = try log.appendRecordBatch(batch)
            Self.remember(producer, offsets: receipt.offsets, receipt: receipt, in: &state.producers)
            if summary.isTransactional, state.open[producer.producerID] == nil {
                state.open[producer.producerID] = receipt.offsets.lowerBound
            }
            return .appended(receipt)
        }
    }

    /// Ends the transaction of `producerID` in `partition` with `marker`: appends
    /// the control batch when the producer has an open transaction there (nil
    /// otherwise: nothing to end, or a marker already written before a crash),
    /// and records an abort in the partition's aborted transactions.
    func end(
        _ marker: TransactionMarker, producerID: Int64, epoch: Int16, in log: Log, of partition: TopicPartition
    ) throws -> AppendReceipt? {
        try withState(log, partition) { state in try Self.end(marker, producerID, epoch, log, &state) }
    }

    private static func end(
        _ marker: TransactionMarker, _ producerID: Int64, _ epoch: Int16, _ log: Log, _ state: inout PartitionState
    ) throws -> AppendReceipt? {
        guard let first = state.open[producerID] else { return nil }
        let receipt = try log.appendTransactionMarker(marker, producerID: producerID, epoch: epoch)
        state.open[producerID] = nil
        if marker == .abort {
            var aborted = state.aborted.filter { $0.lastOffset >= log.lowestOffset }
            aborted.append(AbortedTransaction(producerID: producerID, firstOffset: first, lastOffset: receipt.offsets.lowerBound))
            // Durable before the marker is: a read_committed consumer never meets an abort it cannot filter.
            try AbortedTransaction.save(aborted, in: log.directory)
            state.aborted = aborted
        }
        return receipt
    }

    /// What a read_committed fetch of `partition` from `offset` needs: the
    /// last stable offset (the first offset of the oldest open transaction,
    /// else `end`) and the aborted transactions that overlap what it may
    /// return, `offset` up to that last stable offset.
    func readCommitted(_ log: Log, _ partition: TopicPartition, from offset: Int64, end: Int64) throws -> (
        lastStableOffset: Int64, aborted: [AbortedTransaction]
    ) {
        try withState(log, partition) { state in
            let stable = state.lastStableOffset(end: end)
            return (stable, state.aborted.filter { $0.firstOffset < stable && $0.lastOffset >= offset })
        }
    }

    private static func remember(
        _ producer: BatchProducer, offsets: Range<Int64>, receipt: AppendReceipt?, in known: inout [Int64: Producer]
    ) {
        var state = known[producer.producerID] ?? Producer(epoch: producer.epoch)
        if producer.epoch != state.epoch { state = Producer(epoch: producer.epoch) }
        state.batches.append(
            Batch(firstSequence: producer.baseSequence, lastSequence: producer.lastSequence, offsets: offsets, receipt: receipt))
        if state.batches.count > batchesKept { state.batches.removeFirst(state.batches.count - batchesKept) }
        known[producer.producerID] = state
    }

    /// The producers and open transactions of the last `rebuildBytes` of the
    /// log (estimated from its segments' sizes), or from the earliest start of
    /// a transaction the coordinator knows there; the aborted transactions from
    /// their file. An open transaction the coordinator does not end is aborted.
    private func rebuild(from log: Log, partition: TopicPartition) throws -> PartitionState {
        var start = log.lowestOffset
        var covered: Int64 = 0
        for segment in try log.segments().reversed() where segment.recordCount > 0 {
            if covered + segment.storeBytes >= Self.rebuildBytes {
                let fraction = Double(Self.rebuildBytes - covered) / Double(max(1, segment.storeBytes))
                start = max(segment.baseOffset, segment.nextOffset - Int64(Double(segment.recordCount) * fraction))
                break
            }
            covered += segment.storeBytes
            start = segment.baseOffset
        }
        let coordinator = self.coordinator
        if let earliest = coordinator?.earliestStart(in: partition) { start = min(start, earliest) }
        var state = PartitionState()
        state.aborted = try AbortedTransaction.load(from: log.directory)
        var offset = max(start, log.lowestOffset)
        let end = log.nextOffset
        var batches = 0
        while offset < end {
            var next = offset
            let read = try log.readRecordBatches(from: offset, maxBytes: 1 << 20) { batch in
                guard let summary = RecordBatchSummary(batch: batch) else { return }
                next = max(next, summary.offsets.upperBound)
                batches += 1
                guard let producer = summary.producer else { return }
                if summary.isControl {
                    state.open[producer.producerID] = nil
                    return
                }
                Self.remember(producer, offsets: summary.offsets, receipt: nil, in: &state.producers)
                if summary.isTransactional, state.open[producer.producerID] == nil {
                    state.open[producer.producerID] = summary.offsets.lowerBound
                }
            }
            guard read > 0, next > offset else { break }
            offset = next
        }
        logger.info(
            "kafka.producer_state_rebuilt",
            metadata: [
                "kafka.topic": "\(partition.topic)", "kafka.partition": "\(partition.partition)",
                "kafka.producers": "\(state.producers.count)", "kafka.batches_scanned": "\(batches)",
                "kafka.open_transactions": "\(state.open.count)",
            ])
        for (producerID, _) in state.open where coordinator?.ends(producerID, in: partition) != true && !log.isReadOnly {
            // Nobody will end it (its coordinator state is gone): left open, it would hold the last
            // stable offset back for ever.
            let epoch = state.producers[producerID]?.epoch ?? 0
            _ = try Self.end(.abort, producerID, epoch, log, &state)
            try log.sync()
            logger.warning(
                "kafka.orphan_transaction_aborted",
                metadata: [
                    "kafka.topic": "\(partition.topic)", "kafka.partition": "\(partition.partition)",
                    "kafka.producer_id": "\(producerID)",
                ])
        }
        return state
    }
}

/// A transaction aborted in a partition: its producer, its first offset and
/// the offset of its abort marker. A read_committed consumer drops the
/// producer's records from `firstOffset` until that marker. A partition's are
/// kept in its log directory's `aborted-transactions` file, one
/// `<producer id> <first offset> <marker offset>` line each (docs/FORMAT.md).
struct AbortedTransaction: Sendable, Hashable {
    static let fileName = "aborted-transactions"

    var producerID: Int64
    var firstOffset: Int64
    var lastOffset: Int64

    static func load(from directory: FilePath) throws -> [AbortedTransaction] {
        guard let bytes = try LogMetadataFile.read(named: fileName, in: directory) else { return [] }
        return try String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line in
            let fields = line.split(separator: " ").compactMap { Int64($0) }
            guard fields.count == 3, fields[0] >= 0, fields[1] <= fields[2] else {
                throw LogStoreError(
                    .corruption, "'\(line)' is not an aborted transaction", path: directory.appending(fileName).string)
            }
            return AbortedTransaction(producerID: fields[0], firstOffset: fields[1], lastOffset: fields[2])
        }
    }

    static func save(_ aborted: [AbortedTransaction], in directory: FilePath) throws {
        let text = aborted.map { "\($0.producerID) \($0.firstOffset) \($0.lastOffset)\n" }.joined()
        try LogMetadataFile.write(Array(text.utf8), named: fileName, in: directory)
    }
}
