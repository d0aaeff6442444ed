import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// Rows whose values span every size the write path treats differently (issue
/// 14: a row over about 8 MB once made the next transaction vanish from the
/// log or land at the wrong offset): tiny; around the log's 1 MiB write
/// buffer and the 4 MiB past which it shrinks again; around the ingester's
/// 1 MiB / 1,024-record pieces; 8-16 MB; 60 MB, near the 64 MiB record limit;
/// and one over it, which stops the ingester with a clear error.
@Suite("Ingesting large values", .offPool)
struct IngestLargeValueTests {
    /// Value sizes (bytes, multiples of 32) of the rows inserted one per transaction.
    static let sizes = [
        0, 32, (1 << 20) - 320, 1 << 20, (1 << 20) + 320, (4 << 20) - 320, (4 << 20) + 320,
        9_000_000, 12_000_000, 16_000_000, 60_000_000,
    ]

    @Test(
        "rows of every size class between small transactions are stored whole, in order, and match the database",
        .enabled(if: PostgresTestServer.isAvailable))
    func everySizeClassMatchesTheDatabase() async throws {
        try await offPool { try await everySizeClassBody() }
    }

    func everySizeClassBody() async throws {
        try await IngestFixture.run(
            "ingest_sizes", tables: ["ingest_sizes", "ingest_sizes_small"], ownServer: true,
            setup:
                "CREATE TABLE ingest_sizes (id int PRIMARY KEY, big text); CREATE TABLE ingest_sizes_small (id int PRIMARY KEY)"
        ) { fixture in
            func value(_ id: Int, _ size: Int) -> String { "repeat(md5('\(id)'), \(size / 32))" }
            var smallID = 0
            func small() -> String {
                smallID += 1
                return "INSERT INTO ingest_sizes_small VALUES (\(smallID))"
            }
            for (id, size) in Self.sizes.enumerated() {
                try await fixture.commitEach(small(), "INSERT INTO ingest_sizes VALUES (\(id), \(value(id, size)))", small())
                if id == Self.sizes.count / 2 {
                    // A second run starts on a log whose last batches are large (the reproduction's second ingest).
                    try await fixture.ingest()
                }
            }
            // Several large rows in one transaction, among small ones, an update that moves one
            // (its unchanged TOAST value is not sent), and a delete.
            try await fixture.sql(
                """
                BEGIN; \(small()); INSERT INTO ingest_sizes VALUES (100, \(value(100, 9_000_000))); \(small());
                INSERT INTO ingest_sizes VALUES (101, \(value(101, 9_000_000))); UPDATE ingest_sizes SET id = 102 WHERE id = 100;
                INSERT INTO ingest_sizes VALUES (103, \(value(103, 13_000_000))); DELETE FROM ingest_sizes WHERE id = 4; \(small()); COMMIT
                """)
            // Around the ingester's pieces: 1,023 to 1,025 records, and rows that cross 1 MiB together.
            for count in [1023, 1024, 1025] {
                try await fixture.sql("INSERT INTO ingest_sizes_small SELECT generate_series(\(smallID + 1), \(smallID + count))")
                smallID += count
            }
            try await fixture.sql(
                "INSERT INTO ingest_sizes SELECT g, repeat(md5(g::text), 400000 / 32) FROM generate_series(200, 204) g")
            try await fixture.commitEach(small(), "UPDATE ingest_sizes SET big = \(value(7, 2_000_000)) WHERE id = 7", small())
            try await fixture.ingest()

            // Replay the log's changes into tables and compare them with the database.
            var rows: [Int: String] = [:]
            var smallRows: Set<Int> = []
            var smallOrder: [Int] = []
            for transaction in try fixture.transactions() {
                for record in transaction where record.op != "s" {
                    if record.table == "public.ingest_sizes_small" {
                        let id = try #require(record.after?["id"] as? Int)
                        smallRows.insert(id)
                        smallOrder.append(id)
                        continue
                    }
                    let newID = record.after?["id"] as? Int
                    let oldID = (record.before?["id"] as? Int) ?? newID
                    switch record.op {
                    case "c":
                        rows[try #require(newID)] = try #require(record.after?["big"] as? String)
                    case "u":
                        let unchanged = record.value["unchanged"] as? [String] ?? []
                        let big = unchanged.contains("big") ? rows[try #require(oldID)] : record.after?["big"] as? String
                        if let oldID { rows[oldID] = nil }
                        rows[try #require(newID)] = big
                    case "d":
                        rows[try #require(oldID)] = nil
                    default:
                        Issue.record("unexpected op \(record.op) at offset \(record.offset)")
                    }
                }
            }
            #expect(smallOrder == Array(1...smallID), "the small transactions, in commit order")
            // Each value repeats one 32-byte unit (a moved row keeps its old id's): the database says which, and that it does.
            let database = try await fixture.sql(
                "SELECT id, left(big, 32), length(big), big = repeat(left(big, 32), length(big) / 32) FROM ingest_sizes ORDER BY id"
            )
            #expect(database.allSatisfy { $0[3] == "t" })
            #expect(rows.keys.sorted() == database.compactMap { $0[0].flatMap { Int($0) } })
            for row in database {
                guard let id = row[0].flatMap({ Int($0) }), let unit = row[1], let length = row[2].flatMap({ Int($0) }) else {
                    Issue.record("unreadable row \(row)")
                    continue
                }
                let stored = rows[id]
                #expect(
                    stored?.utf8.count == length,
                    "row \(id): \(stored?.utf8.count ?? -1) bytes in the log, \(length) in the database")
                let same = stored == String(repeating: unit, count: length / 32)
                #expect(
                    same,
                    "row \(id): the log's value (\(stored?.prefix(40) ?? "none")...) differs from the database's (\(unit)...)")
            }
            #expect(smallRows.count == smallID)
        }
    }

    @Test(
        "a change over the record limit stops the ingester with a clear error; the log keeps every transaction before it and verifies",
        .enabled(if: PostgresTestServer.isAvailable))
    func changeOverTheRecordLimitIsRefused() async throws {
        try await offPool { try await changeOverTheRecordLimitBody() }
    }

    func changeOverTheRecordLimitBody() async throws {
        try await IngestFixture.run(
            "ingest_toolarge", tables: ["ingest_toolarge"], ownServer: true,
            setup: "CREATE TABLE ingest_toolarge (id int PRIMARY KEY, big text)"
        ) { fixture in
            try await fixture.commitEach(
                "INSERT INTO ingest_toolarge VALUES (1, 'before')",
                "INSERT INTO ingest_toolarge VALUES (2, repeat('y', 1000)); INSERT INTO ingest_toolarge VALUES (3, repeat('y', 70000000))",
                "INSERT INTO ingest_toolarge VALUES (4, 'after')")
            let error = try await fixture.refusal("a 70 MB change was ingested")
            #expect(error.code == .changeTooLarge)
            #expect(
                error.message.contains("public.ingest_toolarge")
                    && error.message.contains("pg_replication_slot_advance('ingest_toolarge'"),
                "\(error.message)")
            let stored = try fixture.transactions().map { $0.filter { $0.op != "s" }.compactMap { $0.after?["id"] as? Int } }
            #expect(stored == [[1]], "only the transaction before the large change")

            // The way on the error names: skip the transaction, then ingest the rest.
            let commitLSN = try #require(error.message.firstMatch(of: /commits at ([0-9A-F]+\/[0-9A-F]+)/)?.1)
            try await fixture.waitUntilSlotIsFree("ingest_toolarge")
            try await fixture.sql("SELECT pg_replication_slot_advance('ingest_toolarge', '\(commitLSN)'::pg_lsn + 1)")
            // The slot now stands past the log: a gap, refused until it is allowed, then recorded.
            let gap = try await fixture.refusal("a slot advanced past the log was streamed from without a word")
            #expect(gap.code == .gap, "\(gap)")
            try await fixture.ingest { $0.gapHandling = .allowGap }
            let after = try fixture.transactions().map {
                $0.filter { $0.op != "s" }.map { $0.op == "g" ? 0 : $0.after?["id"] as? Int }
            }
            #expect(after == [[1], [0], [4]], "the skipped transaction is a gap marker, the one after it is stored")
        }
    }
}
