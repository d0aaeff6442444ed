/// Why `PostgresIngester` stopped, when neither the log nor the connection
/// has a more precise error to give.
public struct IngestError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The log holds records without the ingest headers.
        case notAnIngestedLog
        /// The log was ingested from another server, database or slot.
        case sourceMismatch
        /// The slot or publication is missing and `create` was not asked for,
        /// or the slot is not a pgoutput slot of this database.
        case setupMissing
        /// A snapshot was asked for but cannot be taken: the log is empty but
        /// the slot exists already (a snapshot needs a slot created with it),
        /// or an earlier snapshot was interrupted and `snapshot` is not set.
        case snapshotUnavailable
        /// The server sent a change the ingester cannot place (say, outside a
        /// transaction, or a change to a relation never announced).
        case protocolViolation
        /// Reconnecting failed for longer than the reconnect timeout.
        case reconnectTimedOut
        /// Stopped during the initial snapshot: the next run takes it again.
        case snapshotInterrupted
        /// A change's record is larger than a log's batch limit
        /// (`Log.maxBatchBytes`); the ingester stopped before its transaction.
        case changeTooLarge
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
