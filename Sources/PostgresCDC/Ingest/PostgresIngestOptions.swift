/// What `PostgresIngester` streams from, and how.
public struct PostgresIngestOptions: Sendable {
    /// Where to connect; the password should already be resolved
    /// (`PostgresConnectionConfiguration.resolvingPassword()`).
    public var connection: PostgresConnectionConfiguration
    /// The logical replication slot (pgoutput) to stream from.
    public var slot: String
    /// The publications that name the tables to stream: pgoutput streams the
    /// tables of all of them, a table in several once. Names as Postgres
    /// stores them (see `validatePublications`).
    public var publications: [String]
    /// Create the publications that are missing (each for `tables`, else for
    /// all tables) and the slot when missing.
    public var create = false
    /// `schema.table` names for the publications `create` makes; empty: all tables.
    public var tables: [String] = []
    /// Follow each delete of a row with a key by a tombstone (same key, null
    /// value), so that key compaction (`cleanup.policy=compact`) removes
    /// deleted rows; as Debezium's `tombstones.on.delete`.
    public var tombstonesOnDelete = true
    /// Copy the published tables first, inside the snapshot the slot is created
    /// with (op `r` records), then stream from the slot's consistent point.
    public var snapshot = false
    /// What to do when the slot cannot give the changes that follow the log
    /// (docs/CDC.md, "Gaps"): refuse (the default), or go on with a marker.
    public var gapHandling = GapHandling.refuse
    /// Return once everything up to the server's WAL position at start is
    /// durable in the log; otherwise run until `PostgresIngester.stop()`.
    public var untilCaughtUp = false
    /// How often a standby status update goes out even when nothing changed
    /// (Postgres' `wal_sender_timeout` is 60 s by default; keep this well below).
    public var statusInterval: Duration = .seconds(1)
    /// How long to keep reconnecting after the connection drops before giving up.
    public var reconnectTimeout: Duration = .seconds(300)
    /// How long to wait for a slot another process still holds (say, the
    /// ingester that just crashed, until Postgres notices) before giving up.
    public var slotInUseTimeout: Duration = .seconds(60)
    /// A transaction's records wait in memory up to this many records or
    /// bytes, then go to the log ahead of its commit (memory stays bounded
    /// whatever the transaction's size).
    public var maxPendingRecords = 1024
    public var maxPendingBytes = 1 << 20
    /// Have Postgres 14 and newer stream large transactions while they run
    /// (pgoutput protocol 2, `streaming 'on'`): their changes are staged on
    /// disk beside the log and go into it at the commit, so a large
    /// transaction arrives sooner after its COMMIT than after Postgres
    /// decoded it whole (docs/CDC.md, "Streaming of large transactions").
    /// On by default; off, or on Postgres 13 and older: protocol 1.
    public var streaming = true
    /// With streaming, the walsender's `logical_decoding_work_mem` for this
    /// connection, in kB: how much of the running transactions' changes
    /// Postgres holds before it streams the largest. Small, so that little
    /// of a large transaction is left to send after its COMMIT (the server's
    /// default, 64 MB, leaves up to that much). nil, or a
    /// `logical_decoding_work_mem` runtime parameter in `connection`, keeps
    /// the server's setting or that one.
    public var streamingDecodingMemoryKB: Int? = 1024
    /// The Postgres setting `streamingDecodingMemoryKB` sets.
    public static let decodingMemoryParameter = "logical_decoding_work_mem"

    public init(connection: PostgresConnectionConfiguration, slot: String, publications: [String]) {
        self.connection = connection
        self.slot = slot
        self.publications = publications
    }

    /// Options streaming the tables of one publication.
    public init(connection: PostgresConnectionConfiguration, slot: String, publication: String) {
        self.init(connection: connection, slot: slot, publications: [publication])
    }
}

/// Progress of the initial snapshot, reported per table.
public struct SnapshotProgress: Sendable, Hashable {
    /// `schema.table`.
    public var table: String
    public var rows: Int64
    public var rowsPerSecond: Double
    /// The table is copied completely.
    public var isDone: Bool

    public init(table: String, rows: Int64, rowsPerSecond: Double, isDone: Bool) {
        self.table = table
        self.rows = rows
        self.rowsPerSecond = rowsPerSecond
        self.isDone = isDone
    }
}

/// What one `PostgresIngester.run()` did.
public struct IngestSummary: Sendable, Hashable {
    /// Transactions appended by this run (the snapshot counts as one).
    public var transactions: Int64 = 0
    /// Records appended by this run.
    public var records: Int64 = 0
    /// Of `transactions`, those Postgres streamed while they ran and that were
    /// staged until their commit (`PostgresIngestOptions.streaming`).
    public var streamedTransactions: Int64 = 0
    /// Rows copied by the initial snapshot in this run.
    public var snapshotRows: Int64 = 0
    /// Times the connection dropped and was made again.
    public var reconnects = 0
    /// Where the log stands at the end.
    public var checkpoint: IngestCheckpoint?
    /// The last position acknowledged to Postgres.
    public var acknowledged: LSN = .zero
}

/// What `PostgresIngester` does when the slot cannot stream what follows the
/// log: it was dropped (or never made for this log), invalidated
/// (`wal_status` lost), re-created, or advanced by somebody else.
public enum GapHandling: String, Sendable, Hashable, CaseIterable {
    /// Stop with an `IngestError.gap` naming the log's position and what to do.
    case refuse
    /// Write a gap marker (op `g`) with the missing range, then stream: from
    /// a new slot, or from where a slot that was only advanced stands.
    case allowGap
    /// Make a new slot with an exported snapshot, write a gap marker and a
    /// full image of the published tables (op `r`) as one unit, then stream.
    case resnapshot
}
