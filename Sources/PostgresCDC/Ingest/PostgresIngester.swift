import LogStore
import Logging

/// Streams every committed change of a Postgres database into a log, exactly
/// once and in commit order (docs/CDC.md).
///
/// - Each transaction's records carry its commit LSN and their ordinal; the
///   last one carries the commit's end LSN (`tx_end_lsn`). On start the log
///   is cut back to its last whole transaction, and transactions committed
///   below that point are dropped when Postgres sends them again.
/// - Postgres is acknowledged only what is durable in the log (or, when
///   nothing is in flight, a keepalive's WAL end), from a timer of its own.
/// - Records wait in memory only up to a bound; the socket is read only as
///   fast as the log takes them (backpressure reaches the walsender by TCP).
/// - A dropped connection is made again with backoff, resuming from the log.
///
/// ```swift
/// let log = try Log.open(directory: "/var/lib/cdc/orders")
/// var options = PostgresIngestOptions(
///     connection: try PostgresConnectionConfiguration(dsn: "postgres://repl@db/shop").resolvingPassword(),
///     slot: "orders", publication: "orders")
/// options.create = true
/// let summary = try await PostgresIngester(log: log, options: options).run()
/// ```
public struct PostgresIngester: Sendable {
    public let log: Log
    public let options: PostgresIngestOptions
    /// Call `stop()` on it (from any thread) to end `run()` cleanly.
    public let stopSignal: IngestStopSignal
    let logger: Logger

    public init(
        log: Log, options: PostgresIngestOptions, stopSignal: IngestStopSignal = IngestStopSignal(),
        logger: Logger = Logger(label: "logd.ingest")
    ) {
        self.log = log
        self.options = options
        self.stopSignal = stopSignal
        self.logger = logger
    }

    /// Runs until stopped, or with `untilCaughtUp` until caught up.
    ///
    /// - Parameter onSnapshotProgress: called per table of the initial
    ///   snapshot, about once a second and when a table is done.
    /// - Returns: what this run did and where the log stands.
    /// - Throws: `PostgresReplicationError` (with a code: wrong password,
    ///   missing privilege, wal_level, missing publication...), `IngestError`
    ///   (`invalidPublication` before anything is done, ...),
    ///   or `LogStoreError`. The log is left on a whole transaction.
    public func run(
        isolation: isolated (any Actor)? = #isolation,
        onSnapshotProgress: @escaping @Sendable (SnapshotProgress) -> Void = { _ in }
    ) async throws -> IngestSummary {
        try options.validatePublications()
        let checkpoint = try IngestCheckpoint.recover(log, logger: logger)
        let writer = TransactionWriter(
            log: log, checkpoint: checkpoint, maxPendingRecords: options.maxPendingRecords,
            maxPendingBytes: options.maxPendingBytes, slot: options.slot)
        var summary = IngestSummary()
        var target: LSN?
        var streamedBefore = false
        var failingSince: ContinuousClock.Instant?
        var backoff = Duration.milliseconds(250)
        func finished() throws -> IngestSummary {
            summary.transactions = writer.appendedTransactions
            summary.streamedTransactions = writer.streamedTransactions
            summary.records = writer.appendedRecords
            summary.checkpoint = try IngestCheckpoint.read(from: log)
            return summary
        }
        while true {
            do {
                let session = IngestSession(ingester: self, writer: writer, onSnapshotProgress: onSnapshotProgress)
                let outcome = try await session.run(
                    target: &target, summary: &summary,
                    connected: {
                        streamedBefore = true
                        failingSince = nil
                        backoff = .milliseconds(250)
                    })
                summary.acknowledged = max(summary.acknowledged, outcome.acknowledged)
                if outcome.streamEnded && !stopSignal.isStopped && !outcome.caughtUp {
                    // The server ended the stream on its own (shutting down): reconnect.
                    throw PostgresReplicationError(.connectionClosed, "the server ended the replication stream")
                }
                return try finished()
            } catch let error as PostgresReplicationError where streamedBefore && Self.isTransient(error) {
                if stopSignal.isStopped { return try finished() }
                let now = ContinuousClock.now
                let since = failingSince ?? now
                failingSince = since
                if now - since > options.reconnectTimeout {
                    throw IngestError(
                        .reconnectTimedOut,
                        "could not reconnect to \(options.connection.host):\(options.connection.port) for \(options.reconnectTimeout): \(error)"
                    )
                }
                logger.warning(
                    "ingest.reconnecting",
                    metadata: ["error": "\(error)", "ingest.retry_in": "\(backoff)", "postgres.slot": "\(options.slot)"])
                summary.reconnects += 1
                try await sleep(backoff)
                backoff = min(backoff * 2, .seconds(10))
            }
        }
    }

    /// Sleeps, waking early when stopped.
    func sleep(_ duration: Duration) async throws {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline, !stopSignal.isStopped {
            try await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
    }

    /// Errors after which a new connection may work: the server restarted or
    /// is starting, the network dropped, too many connections.
    static func isTransient(_ error: PostgresReplicationError) -> Bool {
        switch error.code {
        case .connectionFailed, .connectionClosed, .slotInUse: return true
        case .serverError:
            guard let state = error.sqlState else { return false }
            return state.hasPrefix("57") || state.hasPrefix("08") || state.hasPrefix("53")
        default: return false
        }
    }
}
