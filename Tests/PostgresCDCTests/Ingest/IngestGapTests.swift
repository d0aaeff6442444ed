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
            var refusal: IngestError?
            do {
                try await fixture.ingest()
                Issue.record("ingest went on from a new slot over a gap")
            } catch let error as IngestError {
                refusal = error
            }
            let error = try #require(refusal)
            #expect(error.code == .gap)
            #expect(
                error.message.contains("does not exist") && error.message.contains("--resnapshot")
                    && error.message.contains("--allow-gap"), "\(error.message)")
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
        // A server of its own: the setting and the WAL it writes would hurt the other tests' slots.
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logd-ingest-lost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try Log.open(directory: .init(directory.path))
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

        // One statement per call: ALTER SYSTEM refuses to run inside the transaction a multi-statement query makes.
        try await server.sql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
        try await server.sql("SELECT pg_reload_conf()")
        for round in 0..<4 {
            try await server.sql(
                "INSERT INTO lost SELECT g, repeat('x', 1000) FROM generate_series(\(round * 20_000 + 10), \(round * 20_000 + 20_009)) g"
            )
            try await server.sql("SELECT pg_switch_wal()")
            try await server.sql("CHECKPOINT")
        }
        let status = try await server.sql("SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'lost_slot'")
        try #require(status.first?.first == "lost", "the slot was not invalidated: \(status)")

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
        try log.close()
        #expect(try Log.verify(directory: log.directory).isClean)
    }
}
