/// One pgoutput logical replication message (protocol version 1, and the
/// streaming messages of version 2), the payload of an XLogData (`w`)
/// message. Field names follow the PostgreSQL 15 manual, "Logical
/// Replication Message Formats".
public enum PgOutputMessage: Hashable, Sendable {
    case begin(Begin)
    case commit(Commit)
    case origin(Origin)
    case relation(RelationMessage)
    case type(TypeMessage)
    case insert(Insert)
    case update(Update)
    case delete(Delete)
    case truncate(Truncate)
    case message(LogicalMessage)
    /// `'S'` (protocol 2): the changes that follow, up to Stream Stop, belong
    /// to the in-progress transaction `xid`; each carries the xid of its
    /// (sub)transaction.
    case streamStart(StreamStart)
    /// `'E'` (protocol 2): the end of a block of streamed changes.
    case streamStop
    /// `'c'` (protocol 2): a streamed transaction committed.
    case streamCommit(StreamCommit)
    /// `'A'` (protocol 2): a streamed transaction, or one of its
    /// subtransactions, rolled back.
    case streamAbort(StreamAbort)
    /// A message this decoder deliberately does not interpret: the two-phase
    /// messages of protocol version 3 (`b`, `P`, `K`, `r`, `p`), never asked for.
    case unsupported(tag: UInt8)

    /// `'S'`.
    public struct StreamStart: Hashable, Sendable {
        /// The top-level transaction.
        public var xid: UInt32
        /// The first block of this transaction's changes.
        public var isFirstSegment: Bool

        public init(xid: UInt32, isFirstSegment: Bool) {
            self.xid = xid
            self.isFirstSegment = isFirstSegment
        }
    }

    /// `'c'`: the `Commit` of the streamed transaction `xid`.
    public struct StreamCommit: Hashable, Sendable {
        public var xid: UInt32
        public var commit: Commit

        public init(xid: UInt32, commit: Commit) {
            self.xid = xid
            self.commit = commit
        }
    }

    /// `'A'`: `subtransactionXid` equals `xid` when the whole transaction rolled back.
    public struct StreamAbort: Hashable, Sendable {
        public var xid: UInt32
        public var subtransactionXid: UInt32

        public init(xid: UInt32, subtransactionXid: UInt32) {
            self.xid = xid
            self.subtransactionXid = subtransactionXid
        }
    }

    /// `'B'`: the start of a transaction.
    public struct Begin: Hashable, Sendable {
        /// The LSN of the commit record: the same value as `Commit.commitLSN`.
        public var finalLSN: LSN
        public var commitTimestamp: PostgresTimestamp
        public var xid: UInt32

        public init(finalLSN: LSN, commitTimestamp: PostgresTimestamp, xid: UInt32) {
            self.finalLSN = finalLSN
            self.commitTimestamp = commitTimestamp
            self.xid = xid
        }
    }

    /// `'C'`: the end of a transaction.
    public struct Commit: Hashable, Sendable {
        /// Unused by Postgres 15 (0); kept as sent.
        public var flags: UInt8
        public var commitLSN: LSN
        /// The end of the commit record: the position to acknowledge once the
        /// transaction is durable in the log.
        public var endLSN: LSN
        public var commitTimestamp: PostgresTimestamp

        public init(flags: UInt8, commitLSN: LSN, endLSN: LSN, commitTimestamp: PostgresTimestamp) {
            self.flags = flags
            self.commitLSN = commitLSN
            self.endLSN = endLSN
            self.commitTimestamp = commitTimestamp
        }
    }

    /// `'O'`: the transaction was replicated from another node.
    public struct Origin: Hashable, Sendable {
        public var commitLSN: LSN
        public var name: String

        public init(commitLSN: LSN, name: String) {
            self.commitLSN = commitLSN
            self.name = name
        }
    }

    /// `'Y'`: a non-built-in data type used by a following Relation.
    public struct TypeMessage: Hashable, Sendable {
        public var oid: UInt32
        /// Empty for `pg_catalog`.
        public var namespace: String
        public var name: String

        public init(oid: UInt32, namespace: String, name: String) {
            self.oid = oid
            self.namespace = namespace
            self.name = name
        }
    }

    /// `'I'`: a new row.
    public struct Insert: Hashable, Sendable {
        public var relationOID: UInt32
        public var newTuple: TupleData

        public init(relationOID: UInt32, newTuple: TupleData) {
            self.relationOID = relationOID
            self.newTuple = newTuple
        }
    }

    /// `'U'`: a changed row, with the old row when the replica identity
    /// requires it.
    public struct Update: Hashable, Sendable {
        public var relationOID: UInt32
        /// `'K'` (key columns changed, REPLICA IDENTITY DEFAULT/INDEX) or
        /// `'O'` (REPLICA IDENTITY FULL); nil when neither was sent.
        public var oldTuple: OldTuple?
        public var newTuple: TupleData

        public init(relationOID: UInt32, oldTuple: OldTuple?, newTuple: TupleData) {
            self.relationOID = relationOID
            self.oldTuple = oldTuple
            self.newTuple = newTuple
        }
    }

    /// `'D'`: a deleted row, identified by its key or its whole old row.
    public struct Delete: Hashable, Sendable {
        public var relationOID: UInt32
        public var oldTuple: OldTuple

        public init(relationOID: UInt32, oldTuple: OldTuple) {
            self.relationOID = relationOID
            self.oldTuple = oldTuple
        }
    }

    /// `'T'`: one TRUNCATE statement over one or more tables.
    public struct Truncate: Hashable, Sendable {
        /// Bit 1: CASCADE; bit 2: RESTART IDENTITY.
        public var options: UInt8
        public var relationOIDs: [UInt32]

        public var cascade: Bool { options & 1 != 0 }
        public var restartIdentity: Bool { options & 2 != 0 }

        public init(options: UInt8, relationOIDs: [UInt32]) {
            self.options = options
            self.relationOIDs = relationOIDs
        }
    }

    /// `'M'`: a `pg_logical_emit_message` (sent with `messages 'true'`).
    public struct LogicalMessage: Hashable, Sendable {
        /// Bit 1: the message is transactional (it belongs to the enclosing
        /// Begin/Commit); otherwise it arrives on its own.
        public var flags: UInt8
        public var lsn: LSN
        public var prefix: String
        public var content: ArraySlice<UInt8>

        public var isTransactional: Bool { flags & 1 != 0 }

        public init(flags: UInt8, lsn: LSN, prefix: String, content: ArraySlice<UInt8>) {
            self.flags = flags
            self.lsn = lsn
            self.prefix = prefix
            self.content = content
        }
    }

    /// The old row of an Update or Delete.
    public enum OldTuple: Hashable, Sendable {
        /// `'K'`: only the replica-identity columns carry values; the others are `'n'`.
        case key(TupleData)
        /// `'O'`: the whole old row (REPLICA IDENTITY FULL).
        case full(TupleData)

        public var tuple: TupleData {
            switch self {
            case .key(let tuple), .full(let tuple): tuple
            }
        }
    }
}

/// `'R'`: the shape of a table, sent before its first change in a session and
/// again whenever it changes.
public struct RelationMessage: Hashable, Sendable {
    public var oid: UInt32
    /// Empty for `pg_catalog`.
    public var namespace: String
    public var name: String
    public var replicaIdentity: ReplicaIdentity
    /// The published columns, in order; generated columns are not sent.
    public var columns: [Column]

    public init(oid: UInt32, namespace: String, name: String, replicaIdentity: ReplicaIdentity, columns: [Column]) {
        self.oid = oid
        self.namespace = namespace
        self.name = name
        self.replicaIdentity = replicaIdentity
        self.columns = columns
    }

    /// `schema.table`, as the `table` header and `docs/CDC.md` spell it.
    public var qualifiedName: String { namespace.isEmpty ? name : namespace + "." + name }

    /// `pg_class.relreplident`.
    public enum ReplicaIdentity: Hashable, Sendable {
        /// `'d'`: the primary key.
        case `default`
        /// `'n'`: none.
        case nothing
        /// `'f'`: the whole row.
        case full
        /// `'i'`: a chosen unique index.
        case index
        /// Any other byte, kept as sent.
        case other(UInt8)

        public init(byte: UInt8) {
            switch byte {
            case UInt8(ascii: "d"): self = .default
            case UInt8(ascii: "n"): self = .nothing
            case UInt8(ascii: "f"): self = .full
            case UInt8(ascii: "i"): self = .index
            default: self = .other(byte)
            }
        }

        public var byte: UInt8 {
            switch self {
            case .default: UInt8(ascii: "d")
            case .nothing: UInt8(ascii: "n")
            case .full: UInt8(ascii: "f")
            case .index: UInt8(ascii: "i")
            case .other(let byte): byte
            }
        }
    }

    public struct Column: Hashable, Sendable {
        /// Bit 1: part of the replica identity (every column under FULL).
        public var flags: UInt8
        public var name: String
        public var typeOID: UInt32
        /// `atttypmod`: -1 when the type has none (e.g. `varchar(10)` has 14).
        public var typeModifier: Int32

        public var isKey: Bool { flags & 1 != 0 }

        public init(flags: UInt8, name: String, typeOID: UInt32, typeModifier: Int32) {
            self.flags = flags
            self.name = name
            self.typeOID = typeOID
            self.typeModifier = typeModifier
        }
    }
}
