/// Why `PostgresIngester` stopped, when neither the log nor the connection
/// has a more precise error to give.
public struct IngestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, to branch on. A struct rather than an enum so that
    /// codes can be added without breaking a user's exhaustive `switch`
    /// (as swift-nio's `FileSystemError.Code`); match with `case .name:` and
    /// keep a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as printed, e.g. `notAnIngestedLog`.
        let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The log holds records without the ingest headers.
        public static let notAnIngestedLog = Code("notAnIngestedLog")
        /// The log was ingested from another server, database or slot.
        public static let sourceMismatch = Code("sourceMismatch")
        /// A publication name is empty, given twice, or one Postgres would
        /// fold to lower case or cut short (`PostgresIngestOptions.validatePublications`).
        public static let invalidPublication = Code("invalidPublication")
        /// The slot or publication is missing and `create` was not asked for,
        /// or the slot is not a pgoutput slot of this database.
        public static let setupMissing = Code("setupMissing")
        /// A snapshot was asked for but cannot be taken: the log is empty but
        /// the slot exists already (a snapshot needs a slot created with it),
        /// or an earlier snapshot was interrupted and `snapshot` is not set.
        public static let snapshotUnavailable = Code("snapshotUnavailable")
        /// The server sent a change the ingester cannot place (say, outside a
        /// transaction, or a change to a relation never announced).
        public static let protocolViolation = Code("protocolViolation")
        /// Reconnecting failed for longer than the reconnect timeout.
        public static let reconnectTimedOut = Code("reconnectTimedOut")
        /// Stopped during the initial snapshot: the next run takes it again.
        public static let snapshotInterrupted = Code("snapshotInterrupted")
        /// A change's record is larger than a log's batch limit
        /// (`Log.maxBatchBytes`); the ingester stopped before its transaction.
        public static let changeTooLarge = Code("changeTooLarge")
        /// The log holds changes the slot cannot follow on from (dropped,
        /// re-created or invalidated): streaming would leave a silent gap.
        public static let gap = Code("gap")
        /// The staging files of streamed transactions (`<log>/.ingest-staging`) cannot be written or read.
        public static let staging = Code("staging")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
