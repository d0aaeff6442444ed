import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// A log that holds changes whose slot went away (dropped, or invalidated)
/// is never continued silently from a new slot (docs/CDC.md, "Gaps"): the
/// ingester refuses, or records the gap with a marker (op `g`), and with
/// `.resnapshot` a fresh image of the tables after it.
@Suite("Gaps between a log and its slot", .offPool)
struct IngestGapTests {
    /// The ids of the row changes of each transaction, `g` for a gap marker,
    /// `r<id>` for a snapshot row.
    static func id(_ value: Any?) -> Int { (value as? NSNumber)?.intValue ?? -1 }

    static func shape(_ transactions: [[IngestedRecord]]) -> [[String]] {
        transactions.map { transaction in
            transaction.filter { $0.op != "s" }.map { record in
                switch record.op {
                case "g": return "g"
                case "r": return "r\(id(record.after?["id"]))"
                default: return "\(id(record.after?["id"]))"
                }
            }
        }
    }

    @Test(
        "a dropped slot is a gap: refused even with create, then recorded with allow-gap, then with resnapshot",
        .enabled(if: PostgresTestServer.isAvailable))
    func droppedSlotIsRefusedThenRecorded() async throws {
        try await IngestFixture.run(
            "ingest_gap", tables: ["ingest_gap"], setup: "CREATE TABLE ingest_gap (id int PRIMARY KEY)"
        ) { fixture in
            try await fixture.sql("INSERT INTO ingest_gap VALUES (1)")
            try await fixture.ingest()
            try await fixture.dropSlot("ingest_gap")
            try await fixture.sql("INSERT INTO ingest_gap VALUES (2)")

            // The same command as always (with create) must not start a new slot silently.
            let error = try await Self.refusal(fixture)
            #expect(error.message.contains("does not exist"), "\(error.message)")
            #expect(Self.shape(try fixture.transactions()) == [["1"]])
            #expect(try await fixture.slotIsActive("ingest_gap") == nil, "no slot was created")

            // --allow-gap: the marker, then what follows.
            try await fixture.ingest { $0.gapHandling = .allowGap }
            try await fixture.sql("INSERT INTO ingest_gap VALUES (3)")
            try await fixture.ingest()
            var transactions = try fixture.transactions()
            #expect(Self.shape(transactions) == [["1"], ["g"], ["3"]])
            // The gap starts where the log ended: its last transaction, which may be another test's logical
            // message (publications do not filter them, so every slot streams them).
            let all = try fixture.transactions(includingOtherTests: true)
            let markerIndex = try #require(all.firstIndex { $0.first?.op == "g" })
            let lastEnd = try #require(all[markerIndex - 1].last?.headers[CDCHeader.transactionEndLSN])
            let marker = try #require(all[markerIndex].first)
            let gap = try #require(marker.value["gap"] as? [String: Any])
            #expect(gap["after_lsn"] as? String == lastEnd)
            #expect(gap["until_lsn"] as? String == marker.headers[CDCHeader.commitLSN])
            #expect(gap["resnapshot"] as? Bool == false)
            #expect((gap["reason"] as? String)?.contains("does not exist") == true)
            #expect(try IngestSource.load(logDirectory: fixture.log.directory)?.gaps == 1)

            // --resnapshot after the next drop: the marker and every row, as one unit, then what follows.
            try await fixture.dropSlot("ingest_gap")
            try await fixture.sql("INSERT INTO ingest_gap VALUES (4)")
            try await fixture.ingest { $0.gapHandling = .resnapshot }
            try await fixture.sql("INSERT INTO ingest_gap VALUES (5)")
            try await fixture.ingest()
            transactions = try fixture.transactions()
            #expect(Self.shape(transactions) == [["1"], ["g"], ["3"], ["g", "r1", "r2", "r3", "r4"], ["5"]])
            let second = try #require(transactions.dropFirst(3).first?.first?.value["gap"] as? [String: Any])
            #expect(second["resnapshot"] as? Bool == true)
            let source = try #require(try IngestSource.load(logDirectory: fixture.log.directory))
            #expect(source.gaps == 2 && source.gapPending == nil && source.snapshot == .done)
        }
    }

    /// The gap error a run with `configure` ends with; records an issue when it streams instead.
    static func refusal(
        _ fixture: IngestFixture, sourceLocation: SourceLocation = #_sourceLocation,
        _ configure: (inout PostgresIngestOptions) -> Void = { _ in }
    ) async throws -> IngestError {
        let error = try await fixture.refusal("the ingester streamed over a gap", sourceLocation: sourceLocation, configure)
        #expect(error.code == .gap, "\(error)", sourceLocation: sourceLocation)
        #expect(
            error.message.contains("--resnapshot") && error.message.contains("--allow-gap"), "\(error.message)",
            sourceLocation: sourceLocation)
        return error
    }

    /// The slot's `confirmed_flush_lsn`.
    static func confirmedFlush(_ fixture: IngestFixture) async throws -> LSN {
        let rows = try await fixture.sql(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '\(fixture.name)'")
        return try #require(rows.first?.first.flatMap { $0 }.flatMap { LSN($0) }, "slot \(fixture.name): \(rows)")
    }

    @Test(
        "a slot moved on by somebody else (advanced, or re-created by hand) is a gap; the ingester's own acknowledgements past the log are not",
        .enabled(if: PostgresTestServer.isAvailable))
    func slotMovedOnIsAGap() async throws {
        try await IngestFixture.run(
            "ingest_moved", tables: ["ingest_moved"], ownServer: true,
            setup: "CREATE TABLE ingest_moved (id int PRIMARY KEY); CREATE TABLE ingest_moved_quiet (id int)"
        ) { fixture in
            let directory = fixture.log.directory
            try await fixture.sql("INSERT INTO ingest_moved VALUES (1)")
            try await fixture.ingest()
            // A change outside the publication: an idle ingester acknowledges the server's WAL end, past the log.
            try await fixture.sql("INSERT INTO ingest_moved_quiet VALUES (1)")
            try await fixture.ingest()
            let logEnd = try #require(try IngestCheckpoint.read(from: fixture.log)).endLSN
            let confirmed = try await Self.confirmedFlush(fixture)
            #expect(confirmed > logEnd, "the ingester acknowledged past its log's last transaction")
            let recorded = try #require(try IngestSource.load(logDirectory: directory))
            #expect((recorded.acknowledgedLSN ?? .zero) >= confirmed, "recorded before the slot heard it")
            try await fixture.sql("INSERT INTO ingest_moved VALUES (2)")
            try await fixture.ingest()
            #expect(Self.shape(try fixture.transactions()) == [["1"], ["2"]], "its own acknowledgements are no gap")

            // Advanced past a transaction by somebody else.
            try await fixture.waitUntilSlotIsFree(fixture.name)
            // Committed synchronously: the slot can only be advanced up to the flushed WAL.
            try await fixture.sql("SET synchronous_commit = on; INSERT INTO ingest_moved VALUES (3)")
            let lastEnd = try #require(try IngestCheckpoint.read(from: fixture.log)).endLSN
            let moved = try await fixture.sql(
                "SELECT end_lsn FROM pg_replication_slot_advance('\(fixture.name)', pg_current_wal_insert_lsn())")
            let advancedTo = try #require(moved.first?.first.flatMap { $0 }.flatMap { LSN($0) })
            try await fixture.sql("INSERT INTO ingest_moved VALUES (4)")
            let advanced = try await Self.refusal(fixture)
            #expect(
                advanced.message.contains("pg_replication_slot_advance") && advanced.message.contains("\(advancedTo)"),
                "\(advanced.message)")
            #expect(Self.shape(try fixture.transactions()) == [["1"], ["2"]])
            let createdBefore = try IngestSource.load(logDirectory: directory)?.slotCreatedLSN
            try await fixture.ingest { $0.gapHandling = .allowGap }
            var transactions = try fixture.transactions()
            #expect(Self.shape(transactions) == [["1"], ["2"], ["g"], ["4"]], "the gap ends where the slot stood")
            let gap = try #require(transactions.dropFirst(2).first?.first?.value["gap"] as? [String: Any])
            #expect(gap["after_lsn"] as? String == "\(lastEnd)" && gap["until_lsn"] as? String == "\(advancedTo)", "\(gap)")
            #expect(
                try IngestSource.load(logDirectory: directory)?.slotCreatedLSN == createdBefore,
                "the slot was kept, not made anew")

            // Dropped and re-created by hand under the same name, with a change in between.
            try await fixture.dropSlot(fixture.name)
            try await fixture.sql("INSERT INTO ingest_moved VALUES (5)")
            try await fixture.sql("SELECT pg_create_logical_replication_slot('\(fixture.name)', 'pgoutput')")
            try await fixture.sql("INSERT INTO ingest_moved VALUES (6)")
            let recreated = try await Self.refusal(fixture)
            #expect(recreated.message.contains("created anew"), "\(recreated.message)")
            try await fixture.ingest { $0.gapHandling = .resnapshot }
            try await fixture.sql("INSERT INTO ingest_moved VALUES (7)")
            try await fixture.ingest()
            transactions = try fixture.transactions()
            #expect(
                Self.shape(transactions).suffix(2) == [["g", "r1", "r2", "r3", "r4", "r5", "r6"], ["7"]],
                "\(Self.shape(transactions))")

            // A slot below the point logd created the log's slot at is another slot.
            var source = try #require(try IngestSource.load(logDirectory: directory))
            let created = try #require(source.slotCreatedLSN)
            source.slotCreatedLSN = LSN(created.rawValue + (1 << 32))
            try source.save(logDirectory: directory)
            let other = try await Self.refusal(fixture)
            #expect(other.message.contains("another slot"), "\(other.message)")
            #expect(try IngestSource.load(logDirectory: directory)?.gaps == 2)
        }
    }

    @Test(
        "a slot invalidated while the ingester streams stops it with the gap error, not an endless reconnect loop",
        .enabled(if: PostgresTestServer.isAvailable))
    func slotInvalidatedWhileStreaming() async throws {
        try await offPool { try await Self.slotInvalidatedWhileStreamingBody() }
    }

    static func slotInvalidatedWhileStreamingBody() async throws {
        try await withServerOfItsOwn("live") { server, log in
            try await server.sql("CREATE TABLE live (id int PRIMARY KEY); CREATE TABLE live_hold (id int)")
            var options = PostgresIngestOptions(connection: server.configuration(), slot: "live_slot", publication: "live_pub")
            options.create = true
            options.tables = ["public.live"]
            // Reconnecting for an hour: only the gap check can end the run within the test's time.
            options.reconnectTimeout = .seconds(3600)
            let ingester = PostgresIngester(log: log, options: options)
            let run = Task { try await ingester.run() }
            defer { run.cancel() }
            // Streaming once its walsender holds the slot; changes from then on reach the log.
            while try await server.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'live_slot' AND active").isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await server.sql("INSERT INTO live VALUES (1)")
            while try IngestedRecord.all(in: log).allSatisfy({ $0.op != "c" }) {
                try await Task.sleep(for: .milliseconds(50))
            }
            // An open transaction holds the slot's restart_lsn back while WAL goes past max_slot_wal_keep_size.
            let holder = Task {
                try await ReplicationConnection.withConnection(configuration: server.configuration(replication: .none)) {
                    connection in
                    _ = try await connection.simpleQuery("BEGIN")
                    _ = try await connection.simpleQuery("INSERT INTO live_hold VALUES (1)")
                    while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                }
            }
            defer { holder.cancel() }
            while try await server.sql("SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction'").isEmpty {
                try await Task.sleep(for: .milliseconds(50))
            }
            try await invalidate(
                "live_slot", on: server, writing: "INSERT INTO live_hold SELECT g FROM generate_series(1, 10000) g")

            var failure: (any Error)?
            do {
                _ = try await withTimeout(seconds: 300) { try await run.value }
                Issue.record("the ingester went on after its slot was invalidated")
            } catch {
                failure = error
            }
            let error = try #require(failure as? IngestError, "\(String(describing: failure))")
            #expect(error.code == .gap && error.message.contains("invalidated"), "\(error)")
            holder.cancel()
            _ = await holder.result
            let ids = try IngestedRecord.all(in: log).filter { $0.op == "c" }.map { id($0.after?["id"]) }
            #expect(ids == [1])
        }
    }

    /// Runs `body` on a Postgres of the test's own (the setting and the WAL of
    /// `invalidate` would hurt the other tests' slots) with a log in a
    /// temporary directory, verified at the end.
    static func withServerOfItsOwn(_ name: String, _ body: (PostgresTestServer, Log) async throws -> Void) async throws {
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "logd-ingest-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try Log.open(directory: .init(directory.path))
        try await body(server, log)
        try log.close()
        #expect(try Log.verify(directory: log.directory).isClean)
    }

    /// Sets `max_slot_wal_keep_size` to 1MB, then writes WAL (`insert`, a WAL
    /// switch, a checkpoint) until the server invalidates `slot`.
    static func invalidate(_ slot: String, on server: PostgresTestServer, writing insert: String) async throws {
        // One statement per call: ALTER SYSTEM refuses to run inside the transaction a multi-statement query makes.
        try await server.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
        try await server.sql("SELECT pg_reload_conf()")
        var status: [[String?]] = []
        for _ in 0..<20 {
            try await server.sql(insert)
            try await server.sql("SELECT pg_switch_wal()")
            try await server.sql("CHECKPOINT")
            status = try await server.sql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '\(slot)'")
            if status.first?.first == "lost" { return }
        }
        Issue.record("slot \(slot) was not invalidated: \(status)")
    }

    @Test(
        "a log without changes and a fresh slot is no gap; a slot that streamed the log is none either",
        .enabled(if: PostgresTestServer.isAvailable))
    func noGapWhenTheSlotFollowsTheLog() async throws {
        try await IngestFixture.run(
            "ingest_nogap", tables: ["ingest_nogap"], setup: "CREATE TABLE ingest_nogap (id int PRIMARY KEY)"
        ) { fixture in
            // The fixture's first run created the slot for the empty log: that was no gap.
            try await fixture.sql("INSERT INTO ingest_nogap VALUES (1)")
            try await fixture.ingest()
            try await fixture.sql("INSERT INTO ingest_nogap VALUES (2)")
            try await fixture.ingest()
            #expect(Self.shape(try fixture.transactions()) == [["1"], ["2"]])
            #expect(try IngestSource.load(logDirectory: fixture.log.directory)?.gaps == 0)
        }
    }

    @Test(
        "a slot invalidated by max_slot_wal_keep_size is a gap; resnapshot recovers",
        .enabled(if: PostgresTestServer.isAvailable))
    func invalidatedSlotIsAGap() async throws {
        try await offPool { try await Self.invalidatedSlotIsAGapBody() }
    }

    static func invalidatedSlotIsAGapBody() async throws {
        try await withServerOfItsOwn("lost") { server, log in
            var options = PostgresIngestOptions(connection: server.configuration(), slot: "lost_slot", publication: "lost_pub")
            options.create = true
            options.untilCaughtUp = true
            func ingest(_ handling: GapHandling = .refuse) async throws {
                try await server.sql("SET synchronous_commit = on; CREATE TEMPORARY TABLE flush (x int)")
                var run = options
                run.gapHandling = handling
                let ingester = PostgresIngester(log: log, options: run)
                _ = try await withTimeout(seconds: 300) { try await ingester.run() }
            }
            try await server.sql("CREATE TABLE lost (id int PRIMARY KEY, pad text)")
            try await ingest()
            try await server.sql("INSERT INTO lost VALUES (1, 'a')")
            try await ingest()
            try await invalidate(
                "lost_slot", on: server,
                writing: "INSERT INTO lost SELECT m + g, repeat('x', 1000) FROM generate_series(1, 5000) g, "
                    + "(SELECT max(id) AS m FROM lost) last")

            var refusal: IngestError?
            do {
                try await ingest()
            } catch let error as IngestError {
                refusal = error
            }
            #expect(refusal?.code == .gap && refusal?.message.contains("invalidated") == true, "\(String(describing: refusal))")

            try await server.sql("ALTER SYSTEM RESET max_slot_wal_keep_size")
            try await server.sql("SELECT pg_reload_conf()")
            try await ingest(.resnapshot)
            let records = try IngestedRecord.all(in: log)
            let ops = records.map(\.op)
            #expect(ops.first == "s" && ops.contains("g"), "\(ops.prefix(10))")
            let rows = records.filter { $0.op == "r" }.count
            let count = try await server.sql("SELECT count(*) FROM lost")
            #expect(String(rows) == count.first?.first ?? nil, "every row of the table after the gap")
        }
    }
}
