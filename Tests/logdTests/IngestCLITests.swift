import AsyncTestSupport
import Foundation
import LogStore
import PostgresCDC
import PostgresTestSupport
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `logd ingest postgres`, the real binary against a real Postgres 15.
@Suite("logd ingest postgres", .offPool)
struct IngestCLITests {
    @Test("CI has Postgres 15: the ingest tests fail rather than skip there")
    func postgresIsInstalledOnCI() throws {
        guard ProcessInfo.processInfo.environment["CI"] != nil else { return }
        #expect(PostgresTestServer.isAvailable, "CI is set but Postgres 15 is missing in \(PostgresTestServer.binDirectory)")
        _ = try PostgresTestServer.require()
    }

    @Test(
        "changes stream into the log, read back as JSON; stat shows the source; a second run adds only the new transaction",
        .enabled(if: PostgresTestServer.isAvailable))
    func endToEnd() async throws {
        try await offPool { try await endToEndBody() }
    }

    func endToEndBody() async throws {
        let server = try PostgresTestServer.require()
        let directory = try TestDirectory()
        let database = try await IngestDatabase.create(on: server, name: "e2e")
        try await database.sql("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), tags text[])")
        let ingest = directory.args(
            "ingest", "postgres", "items", "--dsn", database.dsn, "--slot", "e2e_slot", "--publication", "e2e_pub", "--create",
            "--until-caught-up")
        let first = try Logd.run(ingest, timeout: .seconds(120))
        #expect(first.succeeded, "\(first)")

        try await database.sql("INSERT INTO items VALUES (1, 'pen', 1.50, '{blue,red}'), (2, 'ink', 3.25, NULL)")
        try await database.sql("UPDATE items SET price = 1.75 WHERE id = 1")
        try await database.sql("DELETE FROM items WHERE id = 2")
        let second = try Logd.run(ingest, timeout: .seconds(120))
        #expect(second.succeeded, "\(second)")
        #expect(second.output.contains("ingested 3 transactions"), "\(second.output)")

        let read = try Logd.run(directory.args("read", "items", "--format", "json"))
        #expect(read.succeeded, "\(read)")
        let records = try read.lines.map { try parseJSONObject($0) }
        try #require(records.count == 6, "\(read.output)")
        // The delete is followed by a tombstone: same key, null value.
        #expect(records[5]["value"] is NSNull)
        #expect(records[5]["key"] as? String == #"{"id":2}"#)
        #expect((records[5]["headers"] as? [String: Any])?[CDCHeader.transactionEndLSN] != nil)
        let values = try records.dropLast().map { try parseJSONObject(try #require($0["value"] as? String)) }
        try #require(values.map { $0["op"] as? String } == ["s", "c", "c", "u", "d"])
        let inserted = try #require(values[1]["after"] as? [String: Any])
        #expect(jsonInt(inserted["id"]) == 1)
        #expect(inserted["name"] as? String == "pen")
        #expect(inserted["price"] as? String == "1.50")
        #expect(inserted["tags"] as? [String] == ["blue", "red"])
        #expect(records[1]["key"] as? String == #"{"id":1}"#)
        let headers = try #require(records[5]["headers"] as? [String: Any])
        #expect(headers[CDCHeader.table] as? String == "public.items")
        #expect(headers[CDCHeader.operation] as? String == "d")
        #expect(headers[CDCHeader.transactionSequence] as? String == "3")

        // The changes as JSON values, piped into jq (scripts/test.sh installs it): no fromjson needed.
        let embedded = try Logd.run(
            directory.args("read", "items", "--format", "json", "--value-format", "json", "--key-format", "json"))
        #expect(embedded.succeeded, "\(embedded)")
        let jq = try #require(
            ["/usr/bin/jq", "/usr/local/bin/jq"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "jq (Debian's package) is needed: scripts/test.sh installs it")
        let filter = try ChildProcess(
            executable: jq, arguments: ["-c", "[.key.id, .value.op, .value.after.id, .value.after.price]"],
            environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        filter.writeInBackground(embedded.stdout)
        #expect(try filter.wait(timeout: .seconds(30)) == .exited(0), "\(filter.stderr.text)")
        #expect(
            filter.stdout.text.split(separator: "\n").dropFirst() == [
                "[1,\"c\",1,\"1.50\"]", "[2,\"c\",2,\"3.25\"]", "[1,\"u\",1,\"1.75\"]", "[2,\"d\",null,null]",
                "[2,null,null,null]",
            ], "\(filter.stdout.text)")

        let stat = try Logd.run(directory.args("stat", "items", "--json"))
        #expect(stat.succeeded, "\(stat)")
        let source = try #require(try parseJSONObject(stat.output)["source"] as? [String: Any])
        #expect(source["slot"] as? String == "e2e_slot")
        #expect(source["publication"] as? String == "e2e_pub")
        #expect(source["database"] as? String == database.name)
        #expect(jsonInt(source["transactions"]) == 3)
        #expect(source["last_commit_lsn"] as? String == headers[CDCHeader.commitLSN] as? String)

        // Nothing new: a third run appends nothing.
        let third = try Logd.run(ingest, timeout: .seconds(120))
        #expect(third.succeeded, "\(third)")
        #expect(third.output.contains("ingested 0 transactions"), "\(third.output)")
        try directory.expectVerifies("items")
        try await database.drop()
    }

    @Test(
        "the issue-16 reproduction: a re-created slot is refused (exit 1) even with --create; --allow-gap records the gap, --resnapshot the gap and every row; stat counts it",
        .enabled(if: PostgresTestServer.isAvailable), arguments: ["--allow-gap", "--resnapshot"])
    func droppedSlotIsRefused(wayOn: String) async throws {
        try await offPool { try await droppedSlotIsRefusedBody(wayOn: wayOn) }
    }

    func droppedSlotIsRefusedBody(wayOn: String) async throws {
        let server = try PostgresTestServer.require()
        let directory = try TestDirectory()
        let name = wayOn == "--allow-gap" ? "gap" : "gap_resnapshot"
        let database = try await IngestDatabase.create(on: server, name: name)
        try await database.sql("CREATE TABLE t (id int PRIMARY KEY)")
        let ingest = directory.args(
            "ingest", "postgres", "g", "--dsn", database.dsn, "--slot", "\(name)_slot", "--publication", "gap_pub",
            "--until-caught-up")
        #expect(try Logd.run(ingest + ["--create"], timeout: .seconds(120)).succeeded)
        try await database.sql("INSERT INTO t VALUES (1)")
        #expect(try Logd.run(ingest, timeout: .seconds(120)).succeeded)
        try await database.sql("SELECT pg_drop_replication_slot('\(name)_slot')")
        try await database.sql("INSERT INTO t VALUES (2)")

        let refused = try Logd.run(ingest + ["--create"], timeout: .seconds(120))
        #expect(refused.exitCode == 1, "\(refused)")
        #expect(
            refused.errorOutput.contains("\(name)_slot does not exist") && refused.errorOutput.contains("--resnapshot"),
            "\(refused)")

        let allowed = try Logd.run(ingest + ["--create", wayOn], timeout: .seconds(120))
        #expect(allowed.succeeded, "\(allowed)")
        try await database.sql("INSERT INTO t VALUES (3)")
        #expect(try Logd.run(ingest, timeout: .seconds(120)).succeeded)
        let records = try IngestedLog.read(directory.log("g")).filter { $0.op != "s" }
        let shape = records.map { record in record.op + (jsonInt(record.after?["id"]).map { "\($0)" } ?? "") }
        let expected = wayOn == "--allow-gap" ? ["c1", "g", "c3"] : ["c1", "g", "r1", "r2", "c3"]
        #expect(shape == expected)

        let stat = try Logd.run(directory.args("stat", "g", "--json"))
        let source = try #require(try parseJSONObject(stat.output)["source"] as? [String: Any])
        #expect(jsonInt(source["gaps"]) == 1, "\(stat.output)")
        // The slot's positions the next start compares it with (docs/CDC.md, "Gaps").
        let created = try #require((source["slot_created_lsn"] as? String).flatMap { LSN($0) }, "\(stat.output)")
        let acknowledged = try #require((source["acknowledged_lsn"] as? String).flatMap { LSN($0) }, "\(stat.output)")
        #expect(acknowledged >= created)
        // The text shows what the ingester acknowledged: the log's last transaction end, or past it.
        let lastEnd = try #require((source["last_end_lsn"] as? String).flatMap { LSN($0) }, "\(stat.output)")
        let text = try Logd.run(directory.args("stat", "g")).output
        #expect(
            text.contains("created by logd at \(created)") && text.contains("acknowledged up to \(max(acknowledged, lastEnd))"),
            "\(text)")
        try directory.expectVerifies("g")
        try await database.drop()
    }

    @Test(
        "an ingested log compacts to the latest state of every row; deleted rows go once their tombstones expire",
        .enabled(if: PostgresTestServer.isAvailable))
    func compaction() async throws {
        try await offPool { try await compactionBody() }
    }

    func compactionBody() async throws {
        let server = try PostgresTestServer.require()
        let directory = try TestDirectory()
        let database = try await IngestDatabase.create(on: server, name: "compact")
        try await database.sql("CREATE TABLE kv (id int PRIMARY KEY, v int)")
        let ingest = directory.args(
            "ingest", "postgres", "kv", "--dsn", database.dsn, "--slot", "compact_slot", "--publication", "compact_pub",
            "--create",
            "--until-caught-up")
        let setup = try Logd.run(ingest, timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")
        let config = try Logd.run(directory.args("config", "kv", "--set", "segment.bytes=4096", "--set", "delete.retention.ms=0"))
        #expect(config.succeeded, "\(config)")
        try await database.sql("INSERT INTO kv SELECT i, 0 FROM generate_series(1, 10) i")
        for round in 1...30 { try await database.sql("UPDATE kv SET v = \(round)") }
        try await database.sql("DELETE FROM kv WHERE id = 3")
        for round in 31...40 { try await database.sql("UPDATE kv SET v = \(round) WHERE id <> 7") }
        let drain = try Logd.run(ingest, timeout: .seconds(120))
        #expect(drain.succeeded, "\(drain)")
        let before = try IngestedLog.read(directory.log("kv"))

        let compact = try Logd.run(directory.args("compact", "kv"))
        #expect(compact.succeeded, "\(compact)")
        let after = try IngestedLog.read(directory.log("kv"))
        #expect(after.count < before.count / 3, "\(before.count) records before, \(after.count) after")
        // The latest record of each key is the row as the database has it; no key appears twice in compacted segments.
        var state: [Int64: Int64] = [:]
        for record in after {
            guard let id = record.headers[CDCHeader.table] == "public.kv" ? record.keyObject.flatMap({ jsonInt($0["id"]) }) : nil
            else { continue }
            if let row = record.value["after"] as? [String: Any] { state[id] = jsonInt(row["v"]) } else { state[id] = nil }
        }
        var expected: [Int64: Int64] = [:]
        for row in try await database.sql("SELECT id, v FROM kv") { expected[Int64(row[0]!)!] = Int64(row[1]!)! }
        #expect(state == expected)
        #expect(expected[3] == nil && expected[7] == 30)
        let verify = try Logd.run(directory.args("verify", "kv"))
        #expect(verify.succeeded, "\(verify)")

        // Ingest goes on after compaction: the checkpoint is still found.
        try await database.sql("UPDATE kv SET v = 99 WHERE id = 1")
        let more = try Logd.run(ingest, timeout: .seconds(120))
        #expect(more.succeeded, "\(more)")
        #expect(more.output.contains("ingested 1 transactions"), "\(more)")
        try await database.drop()
    }

    @Test(
        "bad arguments are usage errors (exit 64) naming what is wrong",
        arguments: [
            (["--slot", "s", "--publication", "p"], "--dsn"),
            (["--dsn", "mysql://x@h/db", "--slot", "s", "--publication", "p"], "postgres://"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--tables", "a.b"], "--create"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--sync", "never"], "never"),
            (
                ["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--status-interval-ms", "60000"],
                "--status-interval-ms"
            ),
            (["--dsn", "postgres://u@h/db?sslmode=verify-full", "--slot", "s", "--publication", "p"], "sslmode"),
            (
                ["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--decoding-memory", "32kB"],
                "--decoding-memory: '32kB' is not a size of 64kB or more"
            ),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--decoding-memory", "1TB"], "'1TB'"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "p", "--decoding-memory", "MB"], "'MB'"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "a,,b"], "'a,,b' has an empty name"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "a,b,a"], "names publication a twice"),
            (["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", "a,Orders"], "'Orders' has upper-case letters"),
            (
                ["--dsn", "postgres://u@h/db", "--slot", "s", "--publication", String(repeating: "p", count: 64)],
                "is 64 bytes long"
            ),
        ])
    func badArguments(arguments: [String], mentions: String) throws {
        let directory = try TestDirectory()
        let result = try Logd.run(directory.args(["ingest", "postgres", "log"] + arguments))
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.errorOutput.contains(mentions), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: directory.log("log")), "a usage error created the log")
    }

    @Test("an unreachable server fails at once with exit 1 and says where it tried")
    func unreachableServer() throws {
        let directory = try TestDirectory()
        let port = try PostgresTestServer.freePort()
        let result = try Logd.run(
            directory.args(
                "ingest", "postgres", "log", "--dsn", "postgres://u:secret-pw@127.0.0.1:\(port)/db", "--slot", "s",
                "--publication",
                "p"), timeout: .seconds(60))
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.errorOutput.contains("127.0.0.1:\(port)"), "\(result)")
        #expect(!result.errorOutput.contains("secret-pw"), "the password was printed: \(result)")
    }

    @Test(
        "a wrong password, a missing publication and a missing slot are clear errors; the password is never printed",
        .enabled(if: PostgresTestServer.isAvailable))
    func setupErrors() async throws {
        try await offPool { try await setupErrorsBody() }
    }

    func setupErrorsBody() async throws {
        let server = try PostgresTestServer.require()
        let directory = try TestDirectory()
        let role = PostgresTestServer.Role.scram
        let wrongPassword = try Logd.run(
            directory.args(
                "ingest", "postgres", "log", "--dsn",
                "postgres://\(role):not-the-password@127.0.0.1:\(server.port)/\(server.database)?sslmode=disable", "--slot", "s",
                "--publication", "p"), timeout: .seconds(60))
        #expect(wrongPassword.exitCode == 1, "\(wrongPassword)")
        #expect(wrongPassword.errorOutput.contains("authentication"), "\(wrongPassword)")
        #expect(!wrongPassword.errorOutput.contains("not-the-password"), "\(wrongPassword)")

        let noPublication = try Logd.run(
            directory.args(
                "ingest", "postgres", "log", "--dsn", server.dsn, "--slot", "missing_pub_slot", "--publication", "no_such_pub"),
            timeout: .seconds(60))
        #expect(noPublication.exitCode == 1, "\(noPublication)")
        #expect(noPublication.errorOutput.contains("publication no_such_pub does not exist"), "\(noPublication)")
        #expect(noPublication.errorOutput.contains("--create"), "\(noPublication)")

        try await server.sql("DROP PUBLICATION IF EXISTS setup_errors_pub; CREATE PUBLICATION setup_errors_pub")
        let noSlot = try Logd.run(
            directory.args(
                "ingest", "postgres", "log", "--dsn", server.dsn, "--slot", "no_such_slot", "--publication", "setup_errors_pub"),
            timeout: .seconds(60))
        #expect(noSlot.exitCode == 1, "\(noSlot)")
        #expect(noSlot.errorOutput.contains("replication slot no_such_slot does not exist"), "\(noSlot)")
        let slots = try await server.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'no_such_slot'")
        #expect(slots == [["0"]], "a slot was created without --create")
    }

    @Test(
        "SIGTERM stops a running ingest cleanly: exit 0, a whole log, the slot acknowledged",
        .enabled(if: PostgresTestServer.isAvailable))
    func sigtermStopsCleanly() async throws {
        try await offPool { try await sigtermStopsCleanlyBody() }
    }

    func sigtermStopsCleanlyBody() async throws {
        let server = try PostgresTestServer.require()
        let directory = try TestDirectory()
        let database = try await IngestDatabase.create(on: server, name: "sigterm")
        try await database.sql("CREATE TABLE events (id bigserial PRIMARY KEY, body text)")
        let ingest = directory.args(
            "ingest", "postgres", "events", "--dsn", database.dsn, "--slot", "sigterm_slot", "--publication", "sigterm_pub",
            "--create")
        // The slot exists before the changes are made (else they precede it).
        let setup = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")
        let child = try Logd.start(ingest)
        try await database.sql("INSERT INTO events (body) SELECT 'row ' || i FROM generate_series(1, 500) i")
        try await database.sql("INSERT INTO events (body) VALUES ('last')")
        let records = try await IngestedLog.waitFor(directory.log("events"), timeout: .seconds(60)) { records in
            records.contains { ($0.value["after"] as? [String: Any])?["body"] as? String == "last" }
        }
        #expect(records.count == 1 + 501, "schema record + 501 inserts, got \(records.count)")
        child.send(SIGTERM)
        let termination = try child.wait(timeout: .seconds(60))
        #expect(termination == .exited(0), "stderr: \(child.stderr.text)")
        #expect(child.stdout.text.contains("ingested 2 transactions"), "\(child.stdout.text)")
        let confirmed = try await database.sql(
            "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'sigterm_slot'")
        let lastEnd = try #require(records.last?.headers[CDCHeader.transactionEndLSN])
        #expect(
            try LSNText.compare(#require(confirmed.first?.first ?? nil), lastEnd) >= 0, "slot not acknowledged up to \(lastEnd)")
        try directory.expectVerifies("events")
        try await database.drop()
    }

    @Test(
        "kill -9 of the ingester during a pgbench load, 8 times: every committed transaction is in the log exactly once, in order, none partial",
        .enabled(if: PostgresTestServer.isAvailable))
    func killDuringPgbench() async throws {
        try await offPool { try await killDuringPgbenchBody() }
    }

    func killDuringPgbenchBody() async throws {
        // A server of its own: the load's WAL would slow every other test's walsender.
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = try TestDirectory()
        let database = try await IngestDatabase.create(on: server, name: "crash")
        let pgbench = PostgresTestServer.binDirectory + "/pgbench"
        let connection = ["-h", "127.0.0.1", "-p", String(server.port), "-U", PostgresTestServer.Role.trust, database.name]
        try PostgresTestServer.run(pgbench, ["-i", "-s", "1", "-q"] + connection)
        let ingest = directory.args(
            "ingest", "postgres", "bench", "--dsn", database.dsn, "--slot", "crash_slot", "--publication", "crash_pub",
            "--create",
            "--slot-wait", "30")
        // Creates the slot after the initial load: the balances all start at 0.
        let setup = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")

        let load = try ChildProcess(
            executable: pgbench, arguments: ["-n", "-c", "4", "-R", "400", "-T", "12"] + connection,
            environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<8 {
            let child = try Logd.start(ingest)
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...1_400, using: &generator)))
            child.send(SIGKILL)
            let termination = try child.wait(timeout: .seconds(30))
            #expect(termination == .signaled(SIGKILL), "round \(round): the ingester ended on its own: \(child.stderr.text)")
        }
        let loadEnd = try load.wait(timeout: .seconds(120))
        #expect(loadEnd == .exited(0), "pgbench: \(load.stderr.text)")
        let drain = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(300))
        #expect(drain.succeeded, "\(drain)")
        let verify = try Logd.run(directory.args("verify", "bench"))
        #expect(verify.succeeded, "\(verify)")

        let records = try IngestedLog.read(directory.log("bench"))
        try IngestedLog.checkWholeTransactionsInOrder(records)
        // Apply the changes to zero balances: the result must be the database's state, row by row.
        var accounts: [Int64: Int64] = [:]
        var tellers: [Int64: Int64] = [:]
        var branches: [Int64: Int64] = [:]
        var history = 0
        for record in records {
            guard let after = record.value["after"] as? [String: Any], let table = record.headers[CDCHeader.table] else {
                continue
            }
            switch table {
            case "public.pgbench_accounts": accounts[jsonInt(after["aid"])!] = jsonInt(after["abalance"])
            case "public.pgbench_tellers": tellers[jsonInt(after["tid"])!] = jsonInt(after["tbalance"])
            case "public.pgbench_branches": branches[jsonInt(after["bid"])!] = jsonInt(after["bbalance"])
            case "public.pgbench_history": history += 1
            default: Issue.record("unexpected table \(table)")
            }
        }
        func state(_ query: String) async throws -> [Int64: Int64] {
            var rows: [Int64: Int64] = [:]
            for row in try await database.sql(query) { rows[Int64(row[0]!)!] = Int64(row[1]!)! }
            return rows
        }
        /// Balances that differ (a balance back at 0 is the same as never touched).
        func differences(_ log: [Int64: Int64], _ query: String) async throws -> [String] {
            let database = try await state(query)
            let ids = Set(log.keys).union(database.keys)
            return ids.sorted().compactMap { id in
                (log[id] ?? 0) == (database[id] ?? 0) ? nil : "id \(id): log \(log[id] ?? 0), database \(database[id] ?? 0)"
            }
        }
        let accountDifferences = try await differences(accounts, "SELECT aid, abalance FROM pgbench_accounts WHERE abalance <> 0")
        #expect(accountDifferences.isEmpty, "\(accountDifferences.prefix(10))")
        let tellerDifferences = try await differences(tellers, "SELECT tid, tbalance FROM pgbench_tellers")
        #expect(tellerDifferences.isEmpty, "\(tellerDifferences)")
        let branchDifferences = try await differences(branches, "SELECT bid, bbalance FROM pgbench_branches")
        #expect(branchDifferences.isEmpty, "\(branchDifferences)")
        let historyRows = try await database.sql("SELECT count(*) FROM pgbench_history")
        #expect(history == Int(historyRows[0][0]!)!)
        #expect(history > 100, "the load ran too briefly to mean anything: \(history) transactions")
        try await database.drop()
    }

    @Test(
        "Postgres restarted mid-stream: the ingester reconnects and misses nothing",
        .enabled(if: PostgresTestServer.isAvailable))
    func postgresRestart() async throws {
        try await offPool { try await postgresRestartBody() }
    }

    func postgresRestartBody() async throws {
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = try TestDirectory()
        try await server.sql("CREATE TABLE ticks (id int PRIMARY KEY)")
        let ingest = directory.args(
            "ingest", "postgres", "ticks", "--dsn", server.dsn, "--slot", "restart_slot", "--publication", "restart_pub",
            "--create", "--status-interval-ms", "200")
        let setup = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")
        let child = try Logd.start(ingest)
        try await server.sql("INSERT INTO ticks SELECT generate_series(1, 100)")
        _ = try await IngestedLog.waitFor(directory.log("ticks"), timeout: .seconds(60)) { $0.count == 101 }
        try server.restart()
        try await server.sql("INSERT INTO ticks SELECT generate_series(101, 200)")
        try await server.sql("INSERT INTO ticks VALUES (201)")
        let records = try await IngestedLog.waitFor(directory.log("ticks"), timeout: .seconds(90)) { records in
            records.contains { jsonInt(($0.value["after"] as? [String: Any])?["id"]) == 201 }
        }
        child.send(SIGTERM)
        let termination = try child.wait(timeout: .seconds(60))
        #expect(termination == .exited(0), "stderr: \(child.stderr.text)")
        #expect(child.stderr.text.contains("ingest.reconnecting"), "\(child.stderr.text)")
        let ids = records.compactMap { jsonInt(($0.value["after"] as? [String: Any])?["id"]) }
        #expect(ids == Array(1...201), "every row exactly once, in order")
        try IngestedLog.checkWholeTransactionsInOrder(records)
        try directory.expectVerifies("ticks")
    }
}

/// A database of its own on the shared test server, for one test.
struct IngestDatabase {
    let server: PostgresTestServer
    let name: String

    static func create(on server: PostgresTestServer, name: String) async throws -> IngestDatabase {
        let unique = "ingest_\(name)_\(UInt32.random(in: 0...UInt32.max))"
        try await server.sql("CREATE DATABASE \(unique)")
        return IngestDatabase(server: server, name: unique)
    }

    var dsn: String { server.dsn(database: name) }

    @discardableResult
    func sql(_ statements: String) async throws -> [[String?]] {
        try await server.sql(statements, database: name)
    }

    /// Drops the database and the slots in it (their WAL is not pinned any longer).
    func drop() async throws {
        try await server.sql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '\(name)' AND NOT active")
        try await server.sql("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// The records of an ingested log (`IngestedRecord`, shared with the library tests).
enum IngestedLog {
    static func read(_ directory: String) throws -> [IngestedRecord] {
        let log = try Log.openForReading(directory: FilePath(directory))
        defer { try? log.close() }
        return try IngestedRecord.all(in: log)
    }

    /// Polls the log (written by another process) until `condition` holds.
    static func waitFor(
        _ directory: String, timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation,
        until condition: ([IngestedRecord]) -> Bool
    ) async throws -> [IngestedRecord] {
        let deadline = ContinuousClock.now + timeout
        var records: [IngestedRecord] = []
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: directory) {
                records = try read(directory)
                if condition(records) { return records }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for the log; it has \(records.count) records", sourceLocation: sourceLocation)
        return records
    }

    /// Transactions are whole, numbered 1, 2, 3... and in commit order;
    /// each one's records have ordinals 0, 1, 2...; no transaction twice.
    static func checkWholeTransactionsInOrder(_ records: [IngestedRecord], sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        var ordinal = 0
        var commit: String?
        var sequence = 0
        var previousEnd: String?
        for record in records {
            let recordCommit = try #require(record.headers[CDCHeader.commitLSN], sourceLocation: sourceLocation)
            #expect(
                record.headers[CDCHeader.transactionOrdinal] == String(ordinal), "offset \(record.offset)",
                sourceLocation: sourceLocation)
            if ordinal == 0 {
                if let previousEnd {
                    #expect(
                        try LSNText.compare(recordCommit, previousEnd) >= 0,
                        "offset \(record.offset): commit \(recordCommit) before the previous transaction's end \(previousEnd)",
                        sourceLocation: sourceLocation)
                }
                commit = recordCommit
            } else {
                #expect(
                    recordCommit == commit, "offset \(record.offset): a transaction's records disagree on commit_lsn",
                    sourceLocation: sourceLocation)
            }
            if let end = record.headers[CDCHeader.transactionEndLSN] {
                sequence += 1
                #expect(
                    record.headers[CDCHeader.transactionSequence] == String(sequence), "offset \(record.offset)",
                    sourceLocation: sourceLocation)
                previousEnd = end
                ordinal = 0
            } else {
                ordinal += 1
            }
        }
        #expect(ordinal == 0, "the log ends inside a transaction", sourceLocation: sourceLocation)
    }
}

/// LSNs as Postgres prints them (`16/B374D848`).
enum LSNText {
    static func value(_ text: String) throws -> UInt64 {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16) else {
            throw CLIProblem("not an LSN: \(text)")
        }
        return high << 32 | low
    }

    static func compare(_ left: String, _ right: String) throws -> Int {
        let (a, b) = (try value(left), try value(right))
        return a < b ? -1 : (a == b ? 0 : 1)
    }
}

struct CLIProblem: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
