import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// `PostgresIngester` end to end: real changes on the shared Postgres 15
/// (PostgresTestServer) ingested into a log, read back and checked against
/// docs/CDC.md. Every test has its own slot, publication and tables.
@Suite("PostgresIngester against a real Postgres", .offPool)
struct IngestChangeTests {
    // MARK: - Operations

    @Test(
        "insert, update, delete, truncate of several tables, logical messages and schema records, in commit order",
        .enabled(if: PostgresTestServer.isAvailable))
    func everyOperation() async throws {
        try await IngestFixture.run(
            "ingest_ops", tables: ["ingest_ops_a", "ingest_ops_b"],
            setup:
                "CREATE TABLE ingest_ops_a (id int PRIMARY KEY, name text); CREATE TABLE ingest_ops_b (id int PRIMARY KEY, qty int)"
        ) { fixture in
            try await fixture.sql(
                """
                INSERT INTO ingest_ops_a VALUES (1, 'one'), (2, 'two'); INSERT INTO ingest_ops_b VALUES (10, 5);
                UPDATE ingest_ops_a SET name = 'uno' WHERE id = 1; DELETE FROM ingest_ops_a WHERE id = 2;
                SELECT pg_logical_emit_message(true, 'ingest_ops', 'in tx')
                """)
            try await fixture.sql("SELECT pg_logical_emit_message(false, 'ingest_ops', 'héllo')")
            try await fixture.sql(#"SELECT pg_logical_emit_message(false, 'ingest_ops', '\xff00'::bytea)"#)
            try await fixture.sql("TRUNCATE ingest_ops_a, ingest_ops_b RESTART IDENTITY")
            let summary = try await fixture.ingest()
            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "c", "c", "s", "c", "u", "d", "m"], ["m"], ["m"], ["t", "t"]])
            #expect(try summary.transactions == Int64(fixture.transactions(includingOtherTests: true).count))
            try #require(transactions.count == 4)

            let changes = transactions[0]
            let schemaA = try #require(changes[0].value["schema"] as? [String: Any])
            #expect(changes[0].table == "public.ingest_ops_a")
            #expect(schemaA["name"] as? String == "ingest_ops_a")
            #expect(schemaA["replica_identity"] as? String == "default")
            #expect(columnSummary(changes[0]) == ["id int4 key", "name text"])
            expectRow(changes[1], table: "public.ingest_ops_a", key: ["id": 1], before: nil, after: ["id": 1, "name": "one"])
            expectRow(changes[2], table: "public.ingest_ops_a", key: ["id": 2], before: nil, after: ["id": 2, "name": "two"])
            #expect(changes[3].table == "public.ingest_ops_b")
            #expect(columnSummary(changes[3]) == ["id int4 key", "qty int4"])
            expectRow(changes[4], table: "public.ingest_ops_b", key: ["id": 10], before: nil, after: ["id": 10, "qty": 5])
            expectRow(changes[5], table: "public.ingest_ops_a", key: ["id": 1], before: nil, after: ["id": 1, "name": "uno"])
            expectRow(changes[6], table: "public.ingest_ops_a", key: ["id": 2], before: ["id": 2], after: nil)
            expectMessage(changes[7], content: "in tx", encoding: "utf8", transactional: true)
            // One transaction: one xid and commit time; the record timestamp is the commit time in ms.
            let xid = try #require(changes[0].source["xid"] as? NSNumber)
            let commitTime = try #require(changes[0].source["commit_ts"] as? NSNumber)
            for record in changes {
                #expect(record.source["xid"] as? NSNumber == xid)
                #expect(record.source["commit_ts"] as? NSNumber == commitTime)
                #expect(record.timestamp == commitTime.int64Value / 1000)
            }
            for record in changes where ["s", "m"].contains(record.op) { #expect(record.keyText == nil) }

            expectMessage(transactions[1][0], content: "héllo", encoding: "utf8", transactional: false)
            expectMessage(transactions[2][0], content: "/wA=", encoding: "base64", transactional: false)
            for message in [transactions[1][0], transactions[2][0]] {
                #expect(message.source["xid"] is NSNull)
                #expect(message.source["commit_ts"] is NSNull)
            }

            let truncates = transactions[3]
            #expect(Set(truncates.compactMap(\.table)) == ["public.ingest_ops_a", "public.ingest_ops_b"])
            for record in truncates {
                let truncate = try #require(record.value["truncate"] as? [String: Any])
                #expect(Set(truncate["tables"] as? [String] ?? []) == ["public.ingest_ops_a", "public.ingest_ops_b"])
                #expect(truncate["cascade"] as? Bool == false)
                #expect(truncate["restart_identity"] as? Bool == true)
                #expect(record.keyText == nil)
                #expect(record.value["before"] is NSNull && record.value["after"] is NSNull)
            }
        }
    }

    // MARK: - Column types

    @Test("every column type maps to the JSON docs/CDC.md gives, exactly", .enabled(if: PostgresTestServer.isAvailable))
    func columnTypes() async throws {
        try await IngestFixture.run(
            "ingest_types", tables: ["ingest_types"],
            setup: """
                CREATE TYPE ingest_types_mood AS ENUM ('happy', 'sad');
                CREATE TABLE ingest_types (
                    id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric, f4 float4, f8 float8, flag bool,
                    body text, short varchar(10), raw bytea, uid uuid, doc json, docb jsonb, day date, at timestamp,
                    atz timestamptz, ints int[], grid int[], words text[], mood ingest_types_mood, moods ingest_types_mood[],
                    docs jsonb[], nums numeric[], flags bool[], raws bytea[], floats float8[], boxes box[], span interval)
                """
        ) { fixture in
            try await fixture.sql(
                #"""
                INSERT INTO ingest_types VALUES
                (1, -32768, -2147483648, -9223372036854775808, '12345678901234567890.123456789', 1.25, 0.1, true,
                 E'quote " backslash \\ newline \n tab \t unicode é 😀', 'short', '\xdeadbeef00',
                 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2], "a": null}', '{"x": {"y": [true, null, 1.5]}}',
                 '2024-02-29', '2024-01-31 12:34:56.789', '2024-01-31 12:00:00+01', '{1,NULL,3}', '{{1,2},{3,4}}',
                 '{"a b","c\"d",NULL,"NULL",""}', 'happy', '{happy,sad}',
                 ARRAY['{"a": 1}', '[1, "x"]', '"s\\"', '3.5', NULL]::jsonb[], '{1.10,NaN}', '{t,f}', '{"\\xdead",NULL}',
                 '{1.5,NaN,-Infinity}', '{(1,1),(0,0);(2,2),(1,1)}', '1 day 02:03:04'),
                (2, 32767, 2147483647, 9223372036854775807, 'NaN', 'NaN', 'Infinity', false,
                 '', '1234567890', '\x', '00000000-0000-0000-0000-000000000000', '[]', '"just a string"',
                 '0001-01-01', '2000-01-01 00:00:00', '1970-01-01 00:00:00+00', '{}', '{{{1}}}', '{}', 'sad', '{}',
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                (3, NULL, NULL, NULL, '-0.000000000000000000001', '-Infinity', '-Infinity', NULL,
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                (4, 0, 0, 0, '0', '-0', '1e-300', NULL,
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{NULL}', NULL, '{NULL}', NULL, '{NULL}',
                 NULL, NULL, NULL, NULL, NULL, NULL, NULL)
                """#)
            try await fixture.ingest()
            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "c", "c", "c", "c"]])
            let records = try #require(transactions.first)
            try #require(records.count == 5)

            #expect(
                columnSummary(records[0]) == [
                    "id int4 key", "i2 int2", "i4 int4", "i8 int8", "num numeric", "f4 float4", "f8 float8", "flag bool",
                    "body text",
                    "short varchar", "raw bytea", "uid uuid", "doc json", "docb jsonb", "day date", "at timestamp",
                    "atz timestamptz",
                    "ints _int4", "grid _int4", "words _text", "mood public.ingest_types_mood", "moods public._ingest_types_mood",
                    "docs _jsonb", "nums _numeric", "flags _bool", "raws _bytea", "floats _float8", "boxes _box", "span interval",
                ])
            let columns = (records[0].value["schema"] as? [String: Any])?["columns"] as? [[String: Any]]
            #expect(columns?.first { $0["name"] as? String == "short" }?["type_modifier"] as? Int == 14)  // varchar(10): 10 + 4

            let nullable = [
                "i2", "i4", "i8", "flag", "body", "short", "raw", "uid", "doc", "docb", "day", "at", "atz", "ints",
                "grid", "words", "mood", "moods", "docs", "nums", "flags", "raws", "floats", "boxes", "span",
            ]
            let nullRow = [String: Any](uniqueKeysWithValues: nullable.map { ($0, NSNull() as Any) })
            let expected: [[String: Any]] = [
                [
                    "id": 1, "i2": -32768, "i4": -2_147_483_648, "i8": Int64.min, "num": "12345678901234567890.123456789",
                    "f4": 1.25, "f8": 0.1, "flag": true, "body": "quote \" backslash \\ newline \n tab \t unicode é 😀",
                    "short": "short", "raw": "3q2+7wA=", "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                    "doc": ["b": [1, 2], "a": NSNull()] as [String: Any], "docb": ["x": ["y": [true, NSNull(), 1.5] as [Any]]],
                    "day": "2024-02-29", "at": "2024-01-31 12:34:56.789", "atz": "2024-01-31 11:00:00+00",
                    "ints": [1, NSNull(), 3] as [Any], "grid": [[1, 2], [3, 4]],
                    "words": ["a b", "c\"d", NSNull(), "NULL", ""] as [Any],
                    "mood": "happy", "moods": ["happy", "sad"],
                    "docs": [["a": 1], [1, "x"] as [Any], "s\\", 3.5, NSNull()] as [Any], "nums": ["1.10", "NaN"],
                    "flags": [true, false],
                    "raws": ["3q0=", NSNull()] as [Any], "floats": [1.5, "NaN", "-Infinity"] as [Any],
                    "boxes": "{(1,1),(0,0);(2,2),(1,1)}", "span": "1 day 02:03:04",  // box arrays stay text
                ],
                [
                    "id": 2, "i2": 32767, "i4": 2_147_483_647, "i8": Int64.max, "num": "NaN", "f4": "NaN", "f8": "Infinity",
                    "flag": false, "body": "", "short": "1234567890", "raw": "", "uid": "00000000-0000-0000-0000-000000000000",
                    "doc": [Any](), "docb": "just a string", "day": "0001-01-01", "at": "2000-01-01 00:00:00",
                    "atz": "1970-01-01 00:00:00+00", "ints": [Any](), "grid": [[[1]]], "words": [Any](), "mood": "sad",
                    "moods": [Any](),
                ].merging(["docs", "nums", "flags", "raws", "floats", "boxes", "span"].map { ($0, NSNull() as Any) }) { $1 },
                nullRow.merging(["id": 3, "num": "-0.000000000000000000001", "f4": "-Infinity", "f8": "-Infinity"]) { $1 },
                nullRow.merging([
                    "id": 4, "i2": 0, "i4": 0, "i8": 0, "num": "0", "f4": 0, "f8": 1e-300, "ints": [NSNull()],
                    "words": [NSNull()], "moods": [NSNull()],
                ]) { $1 },
            ]
            for (record, row) in zip(records.dropFirst(), expected) {
                expectRow(record, table: "public.ingest_types", key: ["id": row["id"] ?? NSNull()], before: nil, after: row)
                #expect(record.keyText == #"{"id":\#(row["id"] ?? "")}"#)
            }
            // Exactly the digits Postgres sent, whatever a JSON parser would round (or make of -0).
            #expect(
                records[1].valueText.contains(
                    #""i8":-9223372036854775808,"num":"12345678901234567890.123456789","f4":1.25,"f8":0.1,"#))
            #expect(records[2].valueText.contains(#""i8":9223372036854775807,"num":"NaN","f4":"NaN","f8":"Infinity","#))
            #expect(records[4].valueText.contains(#""f4":-0,"f8":1e-300,"#))
        }
    }

    // MARK: - Replica identity

    @Test(
        "before is null, the key, or the whole row as the replica identity says; a key change shows both keys",
        .enabled(if: PostgresTestServer.isAvailable))
    func replicaIdentity() async throws {
        let (tables, setup) = defaultAndFullTables(
            "ingest_identity", columns: "id int PRIMARY KEY, name text, note text",
            then: { "INSERT INTO \($0) VALUES (1, 'a', 'x'), (2, 'b', 'y')" })
        try await IngestFixture.run("ingest_identity", tables: tables, setup: setup) { fixture in
            for table in tables {
                try await fixture.sql(
                    "UPDATE \(table) SET name = 'a2' WHERE id = 1; UPDATE \(table) SET id = 100 WHERE id = 2; DELETE FROM \(table) WHERE id = 1"
                )
            }
            try await fixture.ingest()
            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "u", "u", "d"], ["s", "u", "u", "d"]])
            try #require(transactions.count == 2)

            let byDefault = transactions[0]
            #expect((byDefault[0].value["schema"] as? [String: Any])?["replica_identity"] as? String == "default")
            expectRow(
                byDefault[1], table: "public.ingest_identity_default", key: ["id": 1], before: nil,
                after: ["id": 1, "name": "a2", "note": "x"])
            expectRow(
                byDefault[2], table: "public.ingest_identity_default", key: ["id": 100], before: ["id": 2],
                after: ["id": 100, "name": "b", "note": "y"])
            expectRow(byDefault[3], table: "public.ingest_identity_default", key: ["id": 1], before: ["id": 1], after: nil)

            let full = transactions[1]
            #expect((full[0].value["schema"] as? [String: Any])?["replica_identity"] as? String == "full")
            let a2: [String: Any] = ["id": 1, "name": "a2", "note": "x"]
            let moved: [String: Any] = ["id": 100, "name": "b", "note": "y"]
            expectRow(
                full[1], table: "public.ingest_identity_full", key: a2, before: ["id": 1, "name": "a", "note": "x"], after: a2)
            expectRow(
                full[2], table: "public.ingest_identity_full", key: moved, before: ["id": 2, "name": "b", "note": "y"],
                after: moved)
            expectRow(full[3], table: "public.ingest_identity_full", key: a2, before: a2, after: nil)
        }
    }

    // MARK: - TOAST

    @Test(
        "an unchanged TOAST value is never null: filled from the old row under FULL, else listed as unchanged",
        .enabled(if: PostgresTestServer.isAvailable))
    func unchangedToast() async throws {
        let (tables, setup) = defaultAndFullTables(
            "ingest_toast", columns: "id int PRIMARY KEY, big text, n int",
            then: { "ALTER TABLE \($0) ALTER big SET STORAGE EXTERNAL" })  // out of line, uncompressed
        try await IngestFixture.run("ingest_toast", tables: tables, setup: setup) { fixture in
            var random = SeededGenerator(seed: 0x70A57)
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            let first = String((0..<100_000).map { _ in alphabet.randomElement(using: &random) ?? "a" })
            let second = String((0..<100_000).map { _ in alphabet.randomElement(using: &random) ?? "a" })
            for table in tables {
                try await fixture.commitEach(
                    "INSERT INTO \(table) VALUES (1, '\(first)', 0)", "UPDATE \(table) SET n = 1 WHERE id = 1",
                    "UPDATE \(table) SET big = '\(second)' WHERE id = 1", "UPDATE \(table) SET n = 2 WHERE id = 1",
                    "DELETE FROM \(table) WHERE id = 1")
            }
            try await fixture.ingest()
            let records = try fixture.transactions().flatMap { $0 }.filter { $0.op != "s" }
            #expect(records.map(\.op) == ["c", "u", "u", "u", "d", "c", "u", "u", "u", "d"])
            try #require(records.count == 10)
            for record in records {
                for row in [record.before, record.after] { #expect(!(row?["big"] is NSNull), "big written as null") }
            }

            let table = "public.ingest_toast_default"
            expectRow(records[0], table: table, key: ["id": 1], before: nil, after: ["id": 1, "big": first, "n": 0])
            expectRow(records[1], table: table, key: ["id": 1], before: nil, after: ["id": 1, "n": 1], unchanged: ["big"])
            expectRow(records[2], table: table, key: ["id": 1], before: nil, after: ["id": 1, "big": second, "n": 1])
            expectRow(records[3], table: table, key: ["id": 1], before: nil, after: ["id": 1, "n": 2], unchanged: ["big"])
            expectRow(records[4], table: table, key: ["id": 1], before: ["id": 1], after: nil)

            let full = "public.ingest_toast_full"
            let rows: [[String: Any]] = [
                ["id": 1, "big": first, "n": 0], ["id": 1, "big": first, "n": 1], ["id": 1, "big": second, "n": 1],
                ["id": 1, "big": second, "n": 2],
            ]
            expectRow(records[5], table: full, key: rows[0], before: nil, after: rows[0])
            for step in 1...3 {
                expectRow(records[5 + step], table: full, key: rows[step], before: rows[step - 1], after: rows[step])
            }
            expectRow(records[9], table: full, key: rows[3], before: rows[3], after: nil)
        }
    }

    // MARK: - Schema changes

    @Test(
        "ADD COLUMN and DROP COLUMN mid-stream: a schema record of the new shape before the next change",
        .enabled(if: PostgresTestServer.isAvailable))
    func schemaChanges() async throws {
        try await IngestFixture.run(
            "ingest_alter", tables: ["ingest_alter"], setup: "CREATE TABLE ingest_alter (id int PRIMARY KEY, a text)"
        ) { fixture in
            try await fixture.commitEach(
                "INSERT INTO ingest_alter VALUES (1, 'one')", "ALTER TABLE ingest_alter ADD COLUMN b int DEFAULT 7",
                "INSERT INTO ingest_alter VALUES (2, 'two', 8)", "UPDATE ingest_alter SET a = 'uno' WHERE id = 1",
                "ALTER TABLE ingest_alter DROP COLUMN a", "INSERT INTO ingest_alter VALUES (3, 9)")
            try await fixture.ingest()
            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "c"], ["s", "c"], ["u"], ["s", "c"]])
            try #require(transactions.count == 4)
            #expect(
                transactions.map { columnSummary($0[0]) } == [
                    ["id int4 key", "a text"], ["id int4 key", "a text", "b int4"], [], ["id int4 key", "b int4"],
                ])
            let table = "public.ingest_alter"
            expectRow(transactions[0][1], table: table, key: ["id": 1], before: nil, after: ["id": 1, "a": "one"])
            expectRow(transactions[1][1], table: table, key: ["id": 2], before: nil, after: ["id": 2, "a": "two", "b": 8])
            expectRow(transactions[2][0], table: table, key: ["id": 1], before: nil, after: ["id": 1, "a": "uno", "b": 7])
            expectRow(transactions[3][1], table: table, key: ["id": 3], before: nil, after: ["id": 3, "b": 9])
        }
    }

    // MARK: - Transactions

    @Test(
        "savepoints: only the rows that committed, in one transaction; a rolled-back transaction leaves nothing",
        .enabled(if: PostgresTestServer.isAvailable))
    func savepoints() async throws {
        try await IngestFixture.run(
            "ingest_savepoint", tables: ["ingest_savepoint"], setup: "CREATE TABLE ingest_savepoint (id int PRIMARY KEY)"
        ) { fixture in
            try await fixture.sql(
                """
                BEGIN; INSERT INTO ingest_savepoint VALUES (1); SAVEPOINT a; INSERT INTO ingest_savepoint VALUES (2);
                ROLLBACK TO a; INSERT INTO ingest_savepoint VALUES (3); COMMIT
                """)
            try await fixture.sql(
                "BEGIN; INSERT INTO ingest_savepoint VALUES (4); SELECT pg_logical_emit_message(true, 'ingest_savepoint', 'y'); ROLLBACK"
            )
            try await fixture.sql("INSERT INTO ingest_savepoint VALUES (5)")
            try await fixture.ingest()
            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "c", "c"], ["c"]])
            #expect(transactions.map { $0.compactMap { $0.after?["id"] as? Int } } == [[1, 3], [5]])
        }
    }

    @Test(
        "a transaction larger than the pending bound goes to the log in pieces, whole and once",
        .enabled(if: PostgresTestServer.isAvailable))
    func largeTransaction() async throws {
        let rows = 50_000
        try await IngestFixture.run(
            "ingest_bulk", tables: ["ingest_bulk"], setup: "CREATE TABLE ingest_bulk (id int PRIMARY KEY, label text)"
        ) { fixture in
            try await fixture.sql("INSERT INTO ingest_bulk SELECT g, 'row ' || g FROM generate_series(1, \(rows)) g")
            // Other tests' non-transactional messages reach every slot: count what this run added.
            let offsetBefore = fixture.log.nextOffset
            let transactionsBefore = try fixture.transactions(includingOtherTests: true).count
            let summary = try await fixture.ingest { $0.maxPendingRecords = 100 }
            let transactions = try fixture.transactions()  // checks the ordinals 0...rows and the single end marker
            #expect(transactions.count == 1)
            #expect(try summary.transactions == Int64(fixture.transactions(includingOtherTests: true).count - transactionsBefore))
            #expect(summary.records == fixture.log.nextOffset - offsetBefore)
            let records = try #require(transactions.first)
            #expect(records.count == rows + 1)
            let ids = records.dropFirst().compactMap { $0.after?["id"] as? Int }
            #expect(ids == Array(1...rows))
            #expect(
                records.dropFirst().allSatisfy { $0.op == "c" && $0.after?["label"] as? String == "row \($0.after?["id"] ?? "")" }
            )
        }
    }

    // MARK: - Snapshot

    @Test(
        "the initial snapshot hands off to streaming under concurrent writes: no gap, no overlap",
        .enabled(if: PostgresTestServer.isAvailable))
    func snapshotHandOff() async throws {
        let initialRows = 3000
        try await IngestFixture.run(
            "ingest_snapshot", tables: ["ingest_snapshot"], createSlot: false,
            setup: """
                CREATE TABLE ingest_snapshot (id int PRIMARY KEY, v int NOT NULL, note text);
                INSERT INTO ingest_snapshot SELECT g, 0, 'initial' FROM generate_series(1, \(initialRows)) g
                """
        ) { fixture in
            let writer = ConcurrentWriter(server: fixture.server, table: "ingest_snapshot")
            let written = try await withThrowingTaskGroup(of: ConcurrentWriter.Written.self) { group in
                group.addTask { try await writer.run(firstID: initialRows + 1) }
                do {
                    // The slot and its snapshot are taken while the writer commits, before and after.
                    try await writer.waitForCommits(20)
                    let summary = try await fixture.ingest { $0.snapshot = true }
                    #expect(summary.snapshotRows >= Int64(initialRows))
                    try await writer.waitForCommits(50)
                } catch {
                    writer.stop()
                    throw error
                }
                writer.stop()
                return try await group.next() ?? ConcurrentWriter.Written(highestID: 0, deletedIDs: [])
            }
            try await fixture.ingest()  // drains what was committed after the first run caught up

            let transactions = try fixture.transactions()
            let snapshot = try #require(transactions.first)
            #expect(Set(snapshot.map(\.op)) == ["s", "r"])
            let snapshotIDs = snapshot.compactMap { $0.op == "r" ? $0.after?["id"] as? Int : nil }
            #expect(Set(snapshotIDs).count == snapshotIDs.count, "a row copied twice")
            let missingFromSnapshot = Set(1...initialRows).subtracting(snapshotIDs)  // the writer deletes only its own rows
            #expect(missingFromSnapshot.isEmpty, "\(missingFromSnapshot.sorted().prefix(20))")
            let insertedIDs = transactions.joined().compactMap { $0.op == "c" ? $0.after?["id"] as? Int : nil }
            #expect(Set(insertedIDs).isDisjoint(with: snapshotIDs), "a row both copied and streamed as an insert")

            // Replay the log by key: every update and delete must find its row (no gap), no insert may
            // find one already there (no overlap).
            var state: [Int: String] = [:]
            var seen: Set<Int> = []
            var problems: [String] = []
            for record in transactions.joined() where record.op != "s" {
                guard let key = record.key as? [String: Any], let id = key["id"] as? Int else {
                    problems.append("record \(record.offset) has no key")
                    continue
                }
                seen.insert(id)
                switch record.op {
                case "r", "c":
                    if state[id] != nil { problems.append("record \(record.offset): \(record.op) of row \(id), which exists") }
                    state[id] = rowText(record.after)
                case "u":
                    if state[id] == nil { problems.append("record \(record.offset): update of row \(id), never seen") }
                    state[id] = rowText(record.after)
                case "d":
                    if state.removeValue(forKey: id) == nil {
                        problems.append("record \(record.offset): delete of row \(id), never seen")
                    }
                default:
                    problems.append("record \(record.offset): unexpected op \(record.op)")
                }
            }
            #expect(problems.isEmpty, "\(problems.prefix(10))")
            // A row deleted before the snapshot may never show; any other must.
            let missing = Set(1...written.highestID).subtracting(seen).subtracting(written.deletedIDs)
            #expect(missing.isEmpty, "rows never in the log: \(missing.sorted().prefix(20))")
            #expect(seen.subtracting(1...written.highestID).isEmpty)
            let table = try await fixture.sql("SELECT id, v, note FROM ingest_snapshot ORDER BY id")
            var expected: [Int: String] = [:]
            for row in table {
                guard let id = row[0].flatMap({ Int($0) }) else { continue }
                expected[id] = "\(row[1] ?? "null")|\(row[2] ?? "null")"
            }
            #expect(expected.count == table.count)
            let differing = Set(state.keys).union(expected.keys).filter { state[$0] != expected[$0] }.sorted()
            #expect(
                differing.isEmpty,
                "\(differing.prefix(10).map { "row \($0): log \(state[$0] ?? "none"), table \(expected[$0] ?? "none")" })")
        }
    }

    @Test(
        "a snapshot row (COPY text format) reads exactly as the same row streamed", .enabled(if: PostgresTestServer.isAvailable))
    func snapshotRowsMatchStreamedRows() async throws {
        let values = #"""
            E'tab\there\nnewline \\N back\\slash "q" é \\\\', '\N', '\x00ff5c0a', '{"a\\b","c d",NULL,"{x}"}',
            '{"k": "v\\n", "t": "\t"}', '2024-01-31 12:00:00+01', '-12.50', 'NaN', true, NULL, '{{1,2},{3,NULL}}'
            """#
        try await IngestFixture.run(
            "ingest_copy", tables: ["ingest_copy"], createSlot: false,
            setup: """
                CREATE TABLE ingest_copy (id int PRIMARY KEY, body text, marker text, raw bytea, words text[], doc jsonb,
                    at timestamptz, amount numeric, ratio float8, flag bool, nothing text, grid int[]);
                INSERT INTO ingest_copy VALUES (1, \(values))
                """
        ) { fixture in
            try await fixture.ingest { $0.snapshot = true }
            try await fixture.sql("INSERT INTO ingest_copy VALUES (2, \(values))")
            try await fixture.ingest()
            let records = try fixture.transactions().joined().filter { $0.op != "s" }
            #expect(records.map(\.op) == ["r", "c"])
            try #require(records.count == 2)
            var copied = try #require(records[0].after)
            var streamed = try #require(records[1].after)
            #expect(copied.removeValue(forKey: "id") as? Int == 1)
            #expect(streamed.removeValue(forKey: "id") as? Int == 2)
            expectJSON(copied, streamed)
            #expect(copied["marker"] as? String == #"\N"#)
            #expect(copied["nothing"] is NSNull)
        }
    }

    // MARK: - Restart

    @Test("ingesting again continues the log: no transaction twice, tx_seq goes on", .enabled(if: PostgresTestServer.isAvailable))
    func restart() async throws {
        try await IngestFixture.run(
            "ingest_restart", tables: ["ingest_restart"], setup: "CREATE TABLE ingest_restart (id int PRIMARY KEY, n int)"
        ) { fixture in
            try await fixture.commitEach("INSERT INTO ingest_restart VALUES (1, 0)", "INSERT INTO ingest_restart VALUES (2, 0)")
            try await fixture.ingest()
            let afterFirst = try fixture.transactions()
            #expect(afterFirst.map { $0.map(\.op) } == [["s", "c"], ["c"]])

            try await fixture.ingest()
            let afterIdle = try fixture.transactions()
            #expect(afterIdle.map { $0.map(\.offset) } == afterFirst.map { $0.map(\.offset) })

            try await fixture.commitEach(
                "INSERT INTO ingest_restart VALUES (3, 0)", "UPDATE ingest_restart SET n = 1 WHERE id = 1")
            let third = try await fixture.ingest()

            // Commit LSNs strictly increase (none twice) and tx_seq counts on across the runs.
            let transactions = try fixture.transactions()
            // A new session announces the table again: a schema record before its first change.
            #expect(transactions.map { $0.map(\.op) } == [["s", "c"], ["c"], ["s", "c"], ["u"]])
            #expect(transactions.joined().compactMap { $0.op == "c" ? $0.after?["id"] as? Int : nil } == [1, 2, 3])
            let sequences = transactions.compactMap { $0.last?.sequence }
            #expect(sequences == sequences.sorted() && Set(sequences).count == 4)
            // The checkpoint names the last record, which ends the last transaction.
            let checkpoint = try #require(third.checkpoint)
            #expect(try checkpoint.transactionCount == Int64(fixture.transactions(includingOtherTests: true).count))
            let last = try IngestedRecord(fixture.log.read(at: checkpoint.offset))
            #expect(last.headers[CDCHeader.transactionEndLSN] == checkpoint.endLSN.description)
            #expect(last.commitLSN == checkpoint.commitLSN)
        }
    }

    @Test(
        "a crash inside a transaction: its partial tail is cut, and the transaction, sent again, is stored once and whole",
        .enabled(if: PostgresTestServer.isAvailable))
    func crashInsideTransaction() async throws {
        try await IngestFixture.run(
            "ingest_crash", tables: ["ingest_crash"], setup: "CREATE TABLE ingest_crash (id int PRIMARY KEY)"
        ) { fixture in
            // A copy of the slot keeps its position from before: restored after the cut, it stands for a
            // crash before the transaction was acknowledged, so Postgres sends it again.
            try await fixture.sql("SELECT pg_copy_logical_replication_slot('ingest_crash', 'ingest_crash_before')")
            try await fixture.commitEach(
                "INSERT INTO ingest_crash VALUES (1)", "INSERT INTO ingest_crash SELECT generate_series(2, 11)")
            try await fixture.ingest()
            let whole = try fixture.transactions()
            #expect(whole.map { $0.map(\.op) } == [["s", "c"], Array(repeating: "c", count: 10)])
            let second = try #require(whole.last?.first?.offset)
            try fixture.log.truncate(from: second + 5)

            try await fixture.dropSlot("ingest_crash")
            try await fixture.sql("SELECT pg_copy_logical_replication_slot('ingest_crash_before', 'ingest_crash')")
            try await fixture.dropSlot("ingest_crash_before")
            try await fixture.sql("INSERT INTO ingest_crash VALUES (12)")
            try await fixture.ingest()

            let transactions = try fixture.transactions()  // the framing is whole again
            #expect(
                transactions.map { $0.filter { $0.op == "c" }.compactMap { $0.after?["id"] as? Int } } == [
                    [1], Array(2...11), [12],
                ])
            #expect(transactions.first?.map(\.offset) == whole.first?.map(\.offset))
        }
    }

    // MARK: - Errors

    @Test("a missing publication without create is setupMissing", .enabled(if: PostgresTestServer.isAvailable))
    func missingPublication() async throws {
        try await IngestFixture.run("ingest_err_setup", tables: [], createSlot: false, setup: "SELECT 1") { fixture in
            let error = await #expect(throws: IngestError.self) {
                try await fixture.ingest { $0.create = false }
            }
            #expect(error?.code == .setupMissing)
            #expect(error?.message.contains("publication ingest_err_setup does not exist") == true)
            let slots = try await fixture.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'ingest_err_setup'")
            #expect(slots.isEmpty)
        }
    }

    @Test(
        "a snapshot into an empty log with an existing slot is snapshotUnavailable", .enabled(if: PostgresTestServer.isAvailable))
    func snapshotWithExistingSlot() async throws {
        try await IngestFixture.run(
            "ingest_err_snapshot", tables: ["ingest_err_snapshot"], createSlot: false,
            setup: "CREATE TABLE ingest_err_snapshot (id int PRIMARY KEY); INSERT INTO ingest_err_snapshot VALUES (1)"
        ) { fixture in
            try await fixture.sql("SELECT pg_create_logical_replication_slot('ingest_err_snapshot', 'pgoutput')")
            let error = await #expect(throws: IngestError.self) {
                try await fixture.ingest { $0.snapshot = true }
            }
            #expect(error?.code == .snapshotUnavailable)
            #expect(fixture.log.nextOffset == 0)
        }
    }

    @Test("ingesting another slot into a log that holds changes is sourceMismatch", .enabled(if: PostgresTestServer.isAvailable))
    func otherSlotIntoLog() async throws {
        try await IngestFixture.run(
            "ingest_err_source", tables: ["ingest_err_source"], setup: "CREATE TABLE ingest_err_source (id int PRIMARY KEY)"
        ) { fixture in
            try await fixture.sql("INSERT INTO ingest_err_source VALUES (1)")
            try await fixture.ingest()
            let records = fixture.log.nextOffset
            #expect(try fixture.transactions().map { $0.map(\.op) } == [["s", "c"]])
            let error = await #expect(throws: IngestError.self) {
                try await fixture.ingest { $0.slot = "ingest_err_source_other" }
            }
            #expect(error?.code == .sourceMismatch)
            #expect(fixture.log.nextOffset == records)
            let slots = try await fixture.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'ingest_err_source_other'")
            #expect(slots.isEmpty)
        }
    }
}
