/// The kind of a change record, the `op` field and header.
public enum ChangeOperation: String, Hashable, Sendable, CaseIterable {
    /// Insert.
    case create = "c"
    case update = "u"
    case delete = "d"
    /// A row copied by the initial snapshot.
    case read = "r"
    case truncate = "t"
    /// A `pg_logical_emit_message`.
    case message = "m"
    /// A table's schema, when first seen in a session or when its shape changed.
    case schema = "s"
    /// A gap: changes between two WAL positions are missing from the log (the
    /// slot was dropped, re-created or invalidated); see docs/CDC.md, "Gaps".
    case gap = "g"

    /// The `op` header's value, shared by every record of the op.
    var headerValue: [UInt8] {
        switch self {
        case .create: Self.bytes.create
        case .update: Self.bytes.update
        case .delete: Self.bytes.delete
        case .read: Self.bytes.read
        case .truncate: Self.bytes.truncate
        case .message: Self.bytes.message
        case .schema: Self.bytes.schema
        case .gap: Self.bytes.gap
        }
    }

    private static let bytes = (
        create: Array("c".utf8), update: Array("u".utf8), delete: Array("d".utf8), read: Array("r".utf8),
        truncate: Array("t".utf8), message: Array("m".utf8), schema: Array("s".utf8), gap: Array("g".utf8)
    )
}

/// Where a change came from: the `source` object of the envelope. Together,
/// `commitLSN` and `transactionOrdinal` identify a record uniquely and in
/// log order; that pair is what makes exactly-once ingestion checkable
/// (docs/CDC.md, "Position and exactly once").
public struct ChangeSource: Hashable, Sendable {
    /// The WAL position of the change itself (XLogData `dataStart`); for
    /// snapshot rows, the slot's consistent point.
    public var lsn: LSN
    /// The transaction's commit LSN (Begin's final LSN); for a
    /// non-transactional message, the message's LSN; for snapshot rows, the
    /// consistent point.
    public var commitLSN: LSN
    /// nil for non-transactional messages and snapshot rows.
    public var xid: UInt32?
    /// The position of the record within its transaction, from 0, counting
    /// every record the transaction produces (schema records included).
    public var transactionOrdinal: Int
    /// nil when unknown (non-transactional messages, snapshot rows).
    public var commitTimestamp: PostgresTimestamp?

    public init(lsn: LSN, commitLSN: LSN, xid: UInt32?, transactionOrdinal: Int, commitTimestamp: PostgresTimestamp?) {
        self.lsn = lsn
        self.commitLSN = commitLSN
        self.xid = xid
        self.transactionOrdinal = transactionOrdinal
        self.commitTimestamp = commitTimestamp
    }

    /// The same source for the next record of the transaction.
    public func advanced(by count: Int = 1) -> ChangeSource {
        var next = self
        next.transactionOrdinal += count
        return next
    }
}
