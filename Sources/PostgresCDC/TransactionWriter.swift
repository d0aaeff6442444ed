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

    init(log: Log, checkpoint: IngestCheckpoint?, maxPendingRecords: Int, maxPendingBytes: Int) {
        self.log = log
        self.lastEndLSN = checkpoint?.endLSN ?? .zero
        self.transactionCount = checkpoint?.transactionCount ?? 0
        self.maxPendingRecords = max(1, maxPendingRecords)
        self.maxPendingBytes = maxPendingBytes
    }

    var inTransaction: Bool { unit != nil }

    /// Whether a transaction committing at `commitLSN` is already in the log.
    func isStored(commitLSN: LSN) -> Bool { commitLSN < lastEndLSN }

    /// Starts a transaction (or the snapshot, or a lone message).
    func begin(_ source: ChangeSource) throws(IngestError) {
        guard unit == nil else {
            throw IngestError(.protocolViolation, "transaction \(source.commitLSN) began inside transaction \(unit!.source.commitLSN)")
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
        current.pending.append(record)
        current.pendingBytes += (record.value?.count ?? 0) + (record.key?.count ?? 0) + 64
        if current.pending.count > maxPendingRecords || current.pendingBytes > maxPendingBytes {
            // Everything but the last record, which the commit marks.
            let last = current.pending.removeLast()
            let receipt = try log.appendDeferringDurability(current.pending)
            appendedRecords += Int64(current.pending.count)
            lastReceipt = receipt
            if current.firstOffset == nil { current.firstOffset = receipt.offsets.lowerBound }
            current.pending.removeAll(keepingCapacity: true)
            current.pending.append(last)
            current.pendingBytes = (last.value?.count ?? 0) + (last.key?.count ?? 0) + 64
        }
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
            lastReceipt = try log.appendDeferringDurability(current.pending)
            appendedRecords += Int64(current.pending.count)
            appendedTransactions += 1
        }
        lastEndLSN = max(lastEndLSN, endLSN)
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
