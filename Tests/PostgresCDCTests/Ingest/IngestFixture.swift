import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// One test's log, slot and publication (all named `name`) on the shared
/// server. `run` creates the tables, lets the ingester create the
/// publication and slot (so that the changes the test makes next are
/// streamed), runs the test, then drops slot and publication and removes the log.
struct IngestFixture {
    let server: PostgresTestServer
    let name: String
    let tables: [String]
    let log: Log

    /// - Parameters:
    ///   - ownServer: run on a Postgres of the test's own rather than the
    ///     shared one (for tests whose WAL, rows of 60 MB and more, every
    ///     other test's walsender would have to decode too).
    ///   - publications: publications the test makes besides `name`, dropped
    ///     at the end as `name` is.
    static func run(
        _ name: String, tables: [String], createSlot: Bool = true, ownServer: Bool = false, publications: [String] = [],
        setup: String, _ body: (IngestFixture) async throws -> Void
    ) async throws {
        let own = ownServer ? try PostgresTestServer(walLevel: "logical", tls: false) : nil
        defer { own?.stop() }
        let server = try own ?? PostgresTestServer.require()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logd-ingest-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try Log.open(directory: .init(directory.path))
        defer { try? log.close() }
        let fixture = IngestFixture(server: server, name: name, tables: tables, log: log)
        try await server.sql(setup)
        let result: Result<Void, any Error>
        do {
            if createSlot {
                try await fixture.ingest()
                #expect(try fixture.transactions().isEmpty, "nothing to ingest before the slot existed")
            }
            try await body(fixture)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await fixture.dropSlot(name)
        try await server.sql("DROP PUBLICATION IF EXISTS \(([name] + publications).joined(separator: ", "))")
        try result.get()
        // Every test that writes a log ends by verifying it.
        try log.close()
        let report = try Log.verify(directory: log.directory)
        #expect(report.isClean, "log of \(name): \(report.problems)")
    }

    /// Options for this fixture: create, until caught up, the fixture's tables,
    /// timestamps in UTC (pgoutput formats with the walsender's settings).
    func options() -> PostgresIngestOptions {
        var options = PostgresIngestOptions(
            connection: server.configuration(runtimeParameters: ["TimeZone": "UTC"]), slot: name, publication: name)
        options.create = true
        options.untilCaughtUp = true
        options.tables = tables.map { "public.\($0)" }
        return options
    }

    /// Runs the ingester until caught up with the server's WAL position at its
    /// start. That is the flushed position, and the test server commits
    /// asynchronously (synchronous_commit = off): one synchronous commit
    /// first, so that the changes the test made before are below it.
    @discardableResult
    func ingest(_ configure: (inout PostgresIngestOptions) -> Void = { _ in }) async throws -> IngestSummary {
        try await server.sql("SET synchronous_commit = on; CREATE TEMPORARY TABLE ingest_wal_flush (x int)")
        var options = options()
        configure(&options)
        let ingester = PostgresIngester(log: log, options: options)
        return try await withTimeout(seconds: 300) { try await ingester.run() }
    }

    /// The `IngestError` a run with `configure` stops with; records an issue
    /// (`unexpected`) when it succeeds instead.
    func refusal(
        _ unexpected: Comment, sourceLocation: SourceLocation = #_sourceLocation,
        _ configure: (inout PostgresIngestOptions) -> Void = { _ in }
    ) async throws -> IngestError {
        do {
            try await ingest(configure)
        } catch let error as IngestError {
            return error
        }
        Issue.record(unexpected, sourceLocation: sourceLocation)
        return IngestError(.protocolViolation, "the run succeeded")
    }

    @discardableResult
    func sql(_ statements: String) async throws -> [[String?]] {
        try await server.sql(statements)
    }

    /// Runs each statement as a transaction of its own, in order.
    func commitEach(_ statements: String...) async throws {
        for statement in statements { try await server.sql(statement) }
    }

    /// The whole log, split into transactions (see `splitTransactions`),
    /// without those made only of other tests' logical messages: publications
    /// do not filter messages, so every slot of the database streams them.
    /// Messages of a test use its name as their prefix.
    func transactions(
        includingOtherTests: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [[IngestedRecord]] {
        let records = try IngestedRecord.all(in: log)
        // Tombstones are checked by splitTransactions, then left out: the tests look at the changes.
        return splitTransactions(records, sourceLocation: sourceLocation).map { $0.filter { !$0.isTombstone } }.filter {
            transaction in
            includingOtherTests || !transaction.allSatisfy { $0.op == "m" && $0.headers[CDCHeader.messagePrefix] != name }
        }
    }

    /// Drops a slot once the walsender that used it has let go of it.
    func dropSlot(_ slot: String) async throws {
        for _ in 0..<100 {
            guard let active = try await slotIsActive(slot) else { return }
            if !active, (try? await server.sql("SELECT pg_drop_replication_slot('\(slot)')")) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("replication slot \(slot) stayed active")
    }

    /// Waits until no walsender holds the slot (after an ingester stopped): up to 30 s, as a
    /// walsender busy decoding a large transaction on a loaded machine notices the disconnect late.
    func waitUntilSlotIsFree(_ slot: String) async throws {
        for _ in 0..<300 {
            if try await slotIsActive(slot) != true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("replication slot \(slot) stayed active")
    }

    /// Whether a walsender holds the slot; nil when there is no such slot.
    func slotIsActive(_ slot: String) async throws -> Bool? {
        let rows = try await server.sql("SELECT active FROM pg_replication_slots WHERE slot_name = '\(slot)'")
        return rows.first.map { $0.first == "t" }
    }
}

/// Splits an ingested log into its transactions and checks the framing
/// docs/CDC.md promises: ordinals 0, 1, 2... within a transaction, one
/// commit LSN per transaction, strictly increasing from one to the next (no
/// transaction twice, commit order); `tx_end_lsn` and `tx_seq` (1, 2, 3...)
/// on the last record of each and on no other; headers agreeing with the
/// envelope's `op` and `source`; the log ending on a whole transaction.
func splitTransactions(_ records: [IngestedRecord], sourceLocation: SourceLocation = #_sourceLocation) -> [[IngestedRecord]] {
    var transactions: [[IngestedRecord]] = []
    var current: [IngestedRecord] = []
    var problems: [String] = []
    for record in records {
        let at = "record \(record.offset)"
        guard let commit = record.commitLSN, let ordinal = record.ordinal else {
            problems.append("\(at) lacks commit_lsn or tx_ordinal: \(record.headers)")
            continue
        }
        if ordinal != current.count { problems.append("\(at): tx_ordinal \(ordinal), expected \(current.count)") }
        if let first = current.first?.commitLSN, first != commit {
            problems.append("\(at): commit_lsn \(commit) inside transaction \(first)")
        }
        if current.isEmpty, let previous = transactions.last?.last?.commitLSN, commit <= previous {
            problems.append("\(at): commit_lsn \(commit) after \(previous)")
        }
        if record.isTombstone {
            // Same key and table as the delete just before it, op d, no envelope.
            let delete = current.last
            if record.op != "d" || delete?.op != "d" || delete?.keyText != record.keyText || delete?.table != record.table
                || record.keyText == nil
            {
                problems.append("\(at): a tombstone that does not follow the delete of its key")
            }
            current.append(record)
            if record.headers[CDCHeader.transactionEndLSN] != nil {
                if record.sequence != transactions.count + 1 {
                    problems.append("\(at): tx_seq \(record.sequence ?? -1), expected \(transactions.count + 1)")
                }
                transactions.append(current)
                current = []
            }
            continue
        }
        if record.value["op"] as? String != record.op {
            problems.append("\(at): header op \(record.op), value \(record.valueText)")
        }
        if record.source["commit_lsn"] as? String != commit.description || record.source["tx_ordinal"] as? Int != ordinal {
            problems.append("\(at): source disagrees with the headers: \(record.valueText)")
        }
        let sourceTable = (record.source["schema"] as? String).flatMap { schema in
            (record.source["table"] as? String).map { "\(schema).\($0)" }
        }
        if record.table != sourceTable {
            problems.append("\(at): header table \(record.table ?? "none"), source \(sourceTable ?? "none")")
        }
        if (record.op == "m") != (record.headers[CDCHeader.messagePrefix] != nil) {
            problems.append("\(at): prefix header on op \(record.op)")
        }
        current.append(record)
        if let end = record.headers[CDCHeader.transactionEndLSN] {
            if record.sequence != transactions.count + 1 {
                problems.append("\(at): tx_seq \(record.sequence ?? -1), expected \(transactions.count + 1)")
            }
            if (LSN(end).map { $0 >= commit }) != true { problems.append("\(at): tx_end_lsn \(end) below commit_lsn \(commit)") }
            transactions.append(current)
            current = []
        } else if record.headers[CDCHeader.transactionSequence] != nil {
            problems.append("\(at): tx_seq without tx_end_lsn")
        }
    }
    if !current.isEmpty { problems.append("the log ends inside a transaction at record \(current[0].offset)") }
    #expect(problems.isEmpty, "\(problems.prefix(10))", sourceLocation: sourceLocation)
    return transactions
}

/// Tables `<name>_default` and `<name>_full` (REPLICA IDENTITY FULL) of the
/// same columns, each followed by the statement `then` makes for it.
func defaultAndFullTables(_ name: String, columns: String, then: (String) -> String) -> (tables: [String], setup: String) {
    let tables = [name + "_default", name + "_full"]
    let setup = tables.map { "CREATE TABLE \($0) (\(columns)); \(then($0));" }.joined()
    return (tables, setup + "ALTER TABLE \(name)_full REPLICA IDENTITY FULL")
}
