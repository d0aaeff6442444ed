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
/// sequences is refused (KAFKA.md trap 12). Rebuilt from the tail of the log
/// (about its last `rebuildBytes`) the first time a partition sees a producer.
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

    /// One partition's producers; `producers` is nil until rebuilt from the log.
    final class Table: Sendable {
        let producers = Mutex<[Int64: Producer]?>(nil)
    }

    private let tables = Mutex<[TopicPartition: Table]>([:])
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Forgets the producers of a deleted topic: a topic made again under the name starts anew.
    func forget(topic: String) {
        tables.withLock { tables in tables = tables.filter { $0.key.topic != topic } }
    }

    /// Appends `batch` to `log` (partition `partition`) unless it repeats one of its
    /// producer's last batches; checks its sequence against the producer's.
    /// - Throws: `Refusal` (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH),
    ///   or what `Log.appendRecordBatch` throws.
    func append(_ batch: UnsafeRawBufferPointer, to log: Log, of partition: TopicPartition) throws -> Outcome {
        guard let producer = BatchProducer(batch: batch) else { return .appended(try log.appendRecordBatch(batch)) }
        let table = tables.withLock { tables in
            if let table = tables[partition] { return table }
            let table = Table()
            tables[partition] = table
            return table
        }
        return try table.producers.withLock { producers in
            var known = try producers ?? rebuild(from: log, partition: partition)
            defer { producers = known }
            if let state = known[producer.producerID] {
                if producer.epoch < state.epoch {
                    throw Refusal(
                        code: .invalidProducerEpoch,
                        description: "producer \(producer.producerID) epoch \(producer.epoch) is older than \(state.epoch)")
                }
                if producer.epoch == state.epoch {
                    if let stored = state.batches.first(where: {
                        $0.firstSequence == producer.baseSequence && $0.lastSequence == producer.lastSequence
                    }) {
                        return .duplicate(stored.offsets, stored.receipt)
                    }
                    if let last = state.batches.last,
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
            let receipt = try log.appendRecordBatch(batch)
            Self.remember(producer, offsets: receipt.offsets, receipt: receipt, in: &known)
            return .appended(receipt)
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

    /// The producers of the last `rebuildBytes` of the log (estimated from its segments' sizes).
    private func rebuild(from log: Log, partition: TopicPartition) throws -> [Int64: Producer] {
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
        var known: [Int64: Producer] = [:]
        var offset = max(start, log.lowestOffset)
        let end = log.nextOffset
        var batches = 0
        while offset < end {
            var next = offset
            let read = try log.readRecordBatches(from: offset, maxBytes: 1 << 20) { batch in
                guard let summary = RecordBatchSummary(batch: batch) else { return }
                next = max(next, summary.offsets.upperBound)
                batches += 1
                if let producer = summary.producer { Self.remember(producer, offsets: summary.offsets, receipt: nil, in: &known) }
            }
            guard read > 0, next > offset else { break }
            offset = next
        }
        logger.info(
            "kafka.producer_state_rebuilt",
            metadata: [
                "kafka.topic": "\(partition.topic)", "kafka.partition": "\(partition.partition)",
                "kafka.producers": "\(known.count)", "kafka.batches_scanned": "\(batches)",
            ])
        return known
    }
}
