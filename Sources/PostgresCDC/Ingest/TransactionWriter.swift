import LogStore

/// Appends the records of one transaction at a time so that the log only
/// ever ends on a whole transaction once it is committed:
///
/// - records wait in memory until the commit, up to `maxPendingRecords` /
///   `maxPendingBytes`; past that they go to the log ahead of it (a
///   transaction of any size ingests in bounded memory). The last record
///   always waits: the commit marks it with `tx_end_lsn` and `tx_seq`.
/// - a transaction that ends without its commit (the connection dropped) is
///   cut off the log again: Postgres sends it whole once more.
///
/// Not thread-safe: owned by the ingest loop.
final class TransactionWriter {
    struct Unit {
        /// The source of the next record (its ordinal advances per record).
        var source: ChangeSource
        /// Already in the log (commit LSN below the checkpoint): drop its records.
        var skip: Bool
        /// Offset of the first record appended ahead of the commit.
        var firstOffset: Int64?
        var pending: [Record] = []
        var pendingBytes = 0
    }

    let log: Log
    let maxPendingRecords: Int
    let maxPendingBytes: Int
    /// End LSN of the last transaction stored whole: anything committed
    /// below it is already in the log.
    private(set) var lastEndLSN: LSN
    /// Transactions in the log (the `tx_seq` of the last one).
    private(set) var transactionCount: Int64
    /// The last append, to wait for its durability.
    private(set) var lastReceipt: AppendReceipt?
    private(set) var unit: Unit?
    /// Appended by this writer.
    private(set) var appendedRecords: Int64 = 0
    private(set) var appendedTransactions: Int64 = 0
    /// Of those, transactions Postgres streamed while they ran (protocol 2).
    var streamedTransactions: Int64 = 0

    /// The replication slot, named in errors that tell how to go on.
    let slot: String

    init(log: Log, checkpoint: IngestCheckpoint?, maxPendingRecords: Int, maxPendingBytes: Int, slot: String) {
        self.log = log
        self.slot = slot
        self.lastEndLSN = checkpoint?.endLSN ?? .zero
        self.transactionCount = checkpoint?.transactionCount ?? 0
        self.maxPendingRecords = max(1, maxPendingRecords)
        // Whatever is pending goes out as one batch, which must fit a log's batch limit.
        self.maxPendingBytes = min(maxPendingBytes, Log.maxBatchBytes / 2)
    }

    /// The largest record of a change: a batch holds at most
    /// `Log.maxBatchBytes`, and the commit adds the `tx_end_lsn` and `tx_seq`
    /// headers to the last record.
    static let maxRecordBytes = Log.maxBatchBytes - 256

    var inTransaction: Bool { unit != nil }

    /// Whether a transaction committing at `commitLSN` is already in the log.
    func isStored(commitLSN: LSN) -> Bool { commitLSN < lastEndLSN }

    /// Starts a transaction (or the snapshot, or a lone message).
    func begin(_ source: ChangeSource) throws(IngestError) {
        if let open = unit {
            throw IngestError(
                .protocolViolation, "transaction \(source.commitLSN) began inside transaction \(open.source.commitLSN)")
        }
        unit = Unit(source: source, skip: isStored(commitLSN: source.commitLSN))
    }

    /// Sets the WAL position of the records that follow (XLogData's dataStart).
    func setPosition(_ lsn: LSN) {
        // Relation and Type messages come with position 0: keep the last one.
        if lsn != .zero { unit?.source.lsn = lsn }
    }

    /// The source for the next record; throws outside a transaction.
    func currentSource(for what: String) throws(IngestError) -> ChangeSource {
        guard let unit else { throw IngestError(.protocolViolation, "\(what) outside a transaction") }
        return unit.source
    }

    /// Whether the open transaction's records are dropped (already stored).
    var isSkipping: Bool { unit?.skip ?? false }

    /// Adds the next record of the open transaction.
    func add(_ record: Record) throws {
        guard var current = unit else { throw IngestError(.protocolViolation, "a change arrived outside a transaction") }
        unit = nil  // keeps `pending` uniquely referenced
        defer { unit = current }
        current.source.transactionOrdinal += 1
        guard !current.skip else { return }
        let recordBytes = try checkSize(of: record, source: current.source)
        current.pending.append(record)
        current.pendingBytes += recordBytes
        // A first record over the limit waits alone: there is nothing before it to send ahead.
        if current.pending.count > 1, current.pending.count > maxPendingRecords || current.pendingBytes > maxPendingBytes {
            // Everything but the last record, which the commit marks.
            let last = current.pending.removeLast()
            noteAppendedAhead(try log.appendDeferringDurability(current.pending), of: &current)
            current.pending.removeAll(keepingCapacity: true)
            current.pending.append(last)
            current.pendingBytes = recordBytes
        }
    }

    /// The bytes `record` takes in a batch, when it fits the log's batch limit
    /// with room for the commit's headers; else the `changeTooLarge` error.
    @discardableResult
    func checkSize(of record: Record, source: ChangeSource) throws(IngestError) -> Int {
        let bytes = Log.batchBytes(of: record)
        guard bytes <= Self.maxRecordBytes else { throw changeTooLarge(record, bytes: bytes, source: source) }
        return bytes
    }

    /// Counts records of `unit` appended ahead of its commit.
    private func noteAppendedAhead(_ receipt: AppendReceipt, of unit: inout Unit) {
        appendedRecords += Int64(receipt.offsets.count)
        lastReceipt = receipt
        if unit.firstOffset == nil { unit.firstOffset = receipt.offsets.lowerBound }
    }

    /// Counts the commit's append, which ends a transaction of the log.
    private func noteCommitted(_ receipt: AppendReceipt, endLSN: LSN) {
        appendedRecords += Int64(receipt.offsets.count)
        lastReceipt = receipt
        appendedTransactions += 1
        // A transaction with nothing for the log does not come here: lastEndLSN is the log's end, and a
        // position past it is acknowledged only as a keepalive's, recorded in the source first.
        lastEndLSN = max(lastEndLSN, endLSN)
    }

    /// The error for a change whose record would not fit in a batch: the
    /// ingester stops before it rather than store a part of its transaction.
    func changeTooLarge(_ record: Record, bytes: Int, source: ChangeSource) -> IngestError {
        let table = record.headers.first { $0.key == CDCHeader.table }?.value.map { String(decoding: $0, as: UTF8.self) }
        let limit = Self.maxRecordBytes
        return IngestError(
            .changeTooLarge,
            "a change \(table.map { "to \($0) " } ?? "")at LSN \(source.lsn), in the transaction that commits at \(source.commitLSN), "
                + "takes \(bytes) bytes as a record, more than the \(limit) bytes a record of the log may take (docs/CDC.md, limits); "
                + "nothing of this transaction or after it is stored or acknowledged. To go on, either skip the transaction: "
                + "SELECT pg_replication_slot_advance('\(slot)', '\(source.commitLSN)'::pg_lsn + 1), then run again with --allow-gap "
                + "(the log records the skipped range as a gap marker), "
                + "or leave the large column out of the publication (a column list) and ingest into a new log with --snapshot")
    }

    /// Ends the open transaction: its last record gets `tx_end_lsn` and
    /// `tx_seq` and everything pending is appended.
    ///
    /// - Returns: the receipt to wait on before acknowledging `endLSN` (the
    ///   last append, when this transaction added nothing), nil when nothing
    ///   was ever appended.
    func commit(endLSN: LSN) throws -> AppendReceipt? {
        guard var current = unit else { throw IngestError(.protocolViolation, "commit \(endLSN) outside a transaction") }
        unit = nil
        if !current.skip, !current.pending.isEmpty {
            transactionCount += 1
            current.pending[current.pending.count - 1].headers.append(
                contentsOf: [
                    RecordHeader(CDCHeader.transactionEndLSN, endLSN.description),
                    RecordHeader(CDCHeader.transactionSequence, String(transactionCount)),
                ])
            noteCommitted(try log.appendDeferringDurability(current.pending), endLSN: endLSN)
        }
        return lastReceipt
    }

    /// The `tx_seq` the open transaction gets if it commits with records.
    var nextTransactionSequence: Int64 { transactionCount + 1 }

    /// Appends `batch`, records of the open transaction encoded by the caller
    /// (a streamed transaction's, at its commit), ahead of the commit.
    func appendAhead(_ batch: RecordBatchBuffer) throws {
        guard var current = unit else { throw IngestError(.protocolViolation, "records outside a transaction") }
        noteAppendedAhead(try log.appendDeferringDurability(batch), of: &current)
        unit = current
    }

    /// Ends the open transaction with its last records in `batch`, the last
    /// of them carrying `tx_end_lsn` and `tx_seq` (`nextTransactionSequence`),
    /// as `commit(endLSN:)` does for records added one by one.
    func commit(_ batch: RecordBatchBuffer, endLSN: LSN) throws -> AppendReceipt? {
        guard let current = unit, current.pending.isEmpty else {
            throw IngestError(.protocolViolation, "commit \(endLSN) outside a transaction")
        }
        unit = nil
        if !current.skip, !batch.isEmpty {
            transactionCount += 1
            noteCommitted(try log.appendDeferringDurability(batch), endLSN: endLSN)
        }
        return lastReceipt
    }

    /// Drops the open transaction (the stream ended inside it): cuts what of
    /// it was appended ahead of its commit.
    func abandon() throws {
        guard let current = unit else { return }
        unit = nil
        if let firstOffset = current.firstOffset {
            appendedRecords -= log.nextOffset - firstOffset
            try log.truncate(from: firstOffset)
        }
    }
}
