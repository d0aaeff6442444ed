import ArgumentParser
import Dispatch
import Foundation
import LogStore
import Logging
import PostgresCDC
import Synchronization

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Stream changes from a source into a log.",
        subcommands: [PostgresIngestCommand.self]
    )
}

struct PostgresIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Stream every committed change of a PostgreSQL database into a log, exactly once, in commit order.",
        discussion: """
            Uses logical replication (pgoutput): the server needs wal_level=logical and the user the REPLICATION \
            attribute. One record per row change (JSON, see docs/CDC.md); each transaction's records are appended \
            whole, and Postgres is acknowledged only what is durable in the log, so a restart after a crash \
            continues without loss or duplicates. The password may come from the DSN, PGPASSWORD or ~/.pgpass; \
            it is never printed.

            Without --until-caught-up it runs until SIGINT or SIGTERM, then stops cleanly. A dropped connection \
            is retried with backoff (see --reconnect-timeout).
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to ingest into (created when missing).")
    var log: String

    @Option(
        help: ArgumentHelp(
            "Where to connect: postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require].",
            valueName: "url"))
    var dsn: String

    @Option(help: "The logical replication slot to stream from.")
    var slot: String

    @Option(
        help: ArgumentHelp(
            "The publications naming the tables to stream, comma-separated (each table once, whichever publishes it). Names as Postgres keeps them: lower case, at most 63 bytes.",
            valueName: "name,..."))
    var publication: String

    @Flag(help: "Create the missing publications (each for --tables, else for all tables) and the slot when missing.")
    var create = false

    @Option(
        help: ArgumentHelp(
            "Tables of the publications --create makes, comma-separated (default: all tables).", valueName: "schema.table,..."))
    var tables: String?

    @Flag(help: "First copy the published tables in a consistent snapshot (creates the slot), then stream from there.")
    var snapshot = false

    @Flag(
        help: ArgumentHelp(
            "When the slot cannot follow on from the log (dropped, invalidated, re-created, or advanced by somebody else: docs/CDC.md, Gaps): make a new slot, write a gap marker (op g) with the missing range, then a fresh snapshot of the published tables (op r), then stream."
        ))
    var resnapshot = false

    @Flag(
        name: .customLong("allow-gap"),
        help: ArgumentHelp(
            "When the slot cannot follow on from the log: write only a gap marker (op g) with the missing range, then stream (from a new slot, or from where a slot that was only advanced stands). Without this or --resnapshot such a run stops with an error."
        ))
    var allowGap = false

    @Flag(
        name: .customLong("until-caught-up"),
        help: "Exit once everything up to the server's WAL position at start is durable in the log.")
    var untilCaughtUp = false

    @Flag(
        inversion: .prefixedNo,
        help: "Follow each delete with a tombstone (same key, null value), so that `logd compact` drops deleted rows.")
    var tombstones = true

    @Option(
        help: ArgumentHelp(
            "on: Postgres 14 and newer stream large transactions while they run (pgoutput protocol 2); their changes wait on disk beside the log (<log>/.ingest-staging) and go into it at their commit, whole and in commit order. off: protocol 1, Postgres decodes each transaction after its commit. Postgres 13 and older use protocol 1 either way (docs/CDC.md, Streaming of large transactions)."
        ))
    var streaming: IngestStreamingChoice = .on

    @Option(
        name: .customLong("decoding-memory"),
        help: ArgumentHelp(
            "With --streaming on: the walsender's logical_decoding_work_mem for this connection, how much of the running transactions' changes Postgres holds before it streams the largest (64kB or more, in kB, MB or GB). Small, so that little of a large transaction is left to send after its COMMIT. 'server' keeps the server's setting (64MB by default); so does a logical_decoding_work_mem parameter in --dsn.",
            valueName: "size"))
    var decodingMemory = "1MB"

    @Option(help: "When appended changes are made durable: always (group commit, as soon as possible) or interval.")
    var sync: IngestSyncChoice = .always

    @Option(name: .customLong("sync-interval-ms"), help: "Sync interval for --sync interval, in milliseconds.")
    var syncIntervalMilliseconds: Int = 100

    @Option(
        name: .customLong("status-interval-ms"),
        help: "Send Postgres a status update at least this often, in milliseconds (at most 10000).")
    var statusIntervalMilliseconds: Int = 1000

    @Option(name: .customLong("reconnect-timeout"), help: "Give up after failing to reconnect for this many seconds.")
    var reconnectTimeoutSeconds: Int = 300

    @Option(
        name: .customLong("slot-wait"),
        help: "Wait this many seconds for a slot another process still holds (say, after a crash).")
    var slotWaitSeconds: Int = 60

    func validate() throws {
        try DataDirectoryOptions.validate(logName: log)
        guard syncIntervalMilliseconds > 0 else { throw ValidationError("--sync-interval-ms must be positive") }
        guard (1...10_000).contains(statusIntervalMilliseconds) else {
            throw ValidationError("--status-interval-ms must be between 1 and 10000 (wal_sender_timeout defaults to 60 s)")
        }
        guard reconnectTimeoutSeconds >= 0 else { throw ValidationError("--reconnect-timeout must not be negative") }
        guard slotWaitSeconds >= 0 else { throw ValidationError("--slot-wait must not be negative") }
        guard !slot.isEmpty else { throw ValidationError("--slot must not be empty") }
        _ = try Self.kilobytes(decodingMemory)
        do {
            _ = try PostgresIngestOptions.publications(parsing: publication)
        } catch {
            throw ValidationError("--publication: \(error.message)")
        }
        if tables != nil && !create {
            throw ValidationError("--tables names the tables of the publications --create makes: add --create")
        }
        if resnapshot && allowGap { throw ValidationError("--resnapshot and --allow-gap exclude each other") }
        for table in tableList where table.isEmpty || table.hasPrefix(".") || table.hasSuffix(".") {
            throw ValidationError("--tables: '\(table)' is not a table name (schema.table or table)")
        }
        do {
            _ = try PostgresConnectionConfiguration(dsn: dsn)
        } catch {
            throw ValidationError("--dsn: \(error.message)")
        }
    }

    /// `--decoding-memory` in kB; nil for `server`.
    static func kilobytes(_ size: String) throws -> Int? {
        guard size != "server" else { return nil }
        let digits = size.prefix { $0.isASCII && $0.isNumber }
        let units = ["": 1, "kb": 1, "mb": 1 << 10, "gb": 1 << 20]
        guard !digits.isEmpty, let number = Int(digits), let unit = units[size.dropFirst(digits.count).lowercased()],
            number <= Int(Int32.max) / unit, number * unit >= 64
        else {
            throw ValidationError(
                "--decoding-memory: '\(size)' is not a size of 64kB or more (a number with kB, MB or GB, or 'server')")
        }
        return number * unit
    }

    var tableList: [String] {
        (tables ?? "").split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty || tables?.contains(",") == true }
    }

    func run() async throws {
        let connection = try PostgresConnectionConfiguration(dsn: dsn).resolvingPassword()
        var options = PostgresIngestOptions(
            connection: connection, slot: slot, publications: try PostgresIngestOptions.publications(parsing: publication))
        options.create = create
        options.tables = tableList
        options.snapshot = snapshot
        options.gapHandling = resnapshot ? .resnapshot : allowGap ? .allowGap : .refuse
        options.untilCaughtUp = untilCaughtUp
        options.tombstonesOnDelete = tombstones
        options.streaming = streaming == .on
        options.streamingDecodingMemoryKB = try Self.kilobytes(decodingMemory)
        options.statusInterval = .milliseconds(statusIntervalMilliseconds)
        options.reconnectTimeout = .seconds(reconnectTimeoutSeconds)
        options.slotInUseTimeout = .seconds(slotWaitSeconds)

        let policy = sync == .always ? SyncPolicy.always : .interval(milliseconds: syncIntervalMilliseconds)
        let logOptions = try data.storedOptions(log, LogOptions(syncPolicy: policy))
        let opened = try data.openLog(log, options: logOptions, create: true)
        let stopSignal = IngestStopSignal()
        let signals = SignalHandlers { signal in
            FileHandleError.note("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"): stopping (a second one exits at once)")
            stopSignal.stop()
        }
        defer { signals.cancel() }

        let ingester = PostgresIngester(
            log: opened, options: options, stopSignal: stopSignal, logger: Logger(label: "logd.ingest"))
        let summary: IngestSummary
        do {
            summary = try await ingester.run { progress in
                let rate = Int(progress.rowsPerSecond.rounded())
                FileHandleError.note(
                    progress.isDone
                        ? "snapshot \(progress.table): done, \(progress.rows) rows (\(rate) rows/s)"
                        : "snapshot \(progress.table): \(progress.rows) rows (\(rate) rows/s)")
            }
        } catch {
            try? opened.close()
            throw Self.explain(error, options: options)
        }
        try opened.close()
        var line = "ingested \(summary.transactions) transactions (\(summary.records) records"
        if summary.snapshotRows > 0 { line += ", \(summary.snapshotRows) snapshot rows" }
        line += ") into \(log)"
        if let checkpoint = summary.checkpoint {
            line += "; the log holds \(checkpoint.transactionCount) transactions up to commit LSN \(checkpoint.commitLSN)"
        }
        if summary.reconnects > 0 { line += "; reconnected \(summary.reconnects) times" }
        print(line)
    }

    /// The library's error, with what to do about it where that is clear.
    static func explain(_ error: any Error, options: PostgresIngestOptions) -> any Error {
        guard let error = error as? PostgresReplicationError else { return error }
        let connection = options.connection
        let hint: String?
        switch error.code {
        case .connectionFailed:
            hint = "is Postgres running and listening on \(connection.host):\(connection.port)?"
        case .authenticationFailed:
            hint = "check the password for user \(connection.user) (in --dsn, PGPASSWORD or ~/.pgpass) and pg_hba.conf"
        case .replicationPrivilegeMissing:
            hint = "grant it with: ALTER ROLE \(connection.user) REPLICATION (and allow replication connections in pg_hba.conf)"
        case .walLevelNotLogical:
            hint = "set wal_level = logical in postgresql.conf and restart Postgres"
        case .slotInUse:
            hint = "another process (another logd ingest?) streams from slot \(options.slot); stop it or use another slot"
        case .publicationMissing:
            hint = "create it, or pass --create"
        case .slotMissing:
            hint = "create it, or pass --create"
        default:
            hint = nil
        }
        return CLIError(hint.map { "\(error); \($0)" } ?? "\(error)")
    }
}

/// `--sync` for ingest: there is no `never` (acknowledging needs durability).
enum IngestSyncChoice: String, ExpressibleByArgument, CaseIterable {
    case always, interval
}

enum IngestStreamingChoice: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

/// SIGINT and SIGTERM call `handler` once; a second signal exits at once.
final class SignalHandlers {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        let fired = Mutex(false)
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let again = fired.withLock { fired in
                    defer { fired = true }
                    return fired
                }
                if again { exit(128 + number) }
                handler(number)
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
