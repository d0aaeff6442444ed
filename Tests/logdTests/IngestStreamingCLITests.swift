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

/// `logd ingest postgres` with streaming of in-progress transactions
/// (protocol 2), its walsender streaming every transaction over 64 kB:
/// crashes and restarts while transactions are staged or being written.
@Suite("logd ingest postgres, streamed transactions", .offPool)
struct IngestStreamingCLITests {
    /// The rows of one round's large transaction.
    static func rows(_ round: Int) -> ClosedRange<Int> { (round * 100_000 + 1)...(round * 100_000 + 6_000) }

    @Test(
        "kill -9 of the ingester while large transactions are staged or written into the log, 8 times: each committed one is there once and whole, none rolled back",
        .enabled(if: PostgresTestServer.isAvailable))
    func killWhileStagedOrCopied() async throws {
        // A server of its own: its large transactions would be streamed to every other test's walsender.
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = try TestDirectory()
        try await server.sql("CREATE TABLE big (id int PRIMARY KEY, note text)")
        let ingest = directory.args(
            "ingest", "postgres", "big", "--dsn", server.dsn + "&logical_decoding_work_mem=64kB", "--slot", "stream_slot",
            "--publication", "stream_pub", "--create", "--slot-wait", "30", "--streaming", "on")
        let setup = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")

        var generator = SystemRandomNumberGenerator()
        var committed: [Int] = []
        for round in 1...8 {
            let child = try Logd.start(ingest)
            let range = Self.rows(round)
            // Odd rounds roll back, and a savepoint of the even ones too.
            let statements =
                round % 2 == 1
                ? "BEGIN; INSERT INTO big SELECT g, repeat('r', 200) FROM generate_series(\(range.lowerBound), \(range.upperBound)) g; ROLLBACK"
                : """
                BEGIN; INSERT INTO big SELECT g, repeat('c', 200) FROM generate_series(\(range.lowerBound), \(range.upperBound)) g;
                SAVEPOINT s; INSERT INTO big SELECT g, 'gone' FROM generate_series(\(range.upperBound + 1), \(range.upperBound + 2_000)) g;
                ROLLBACK TO SAVEPOINT s; COMMIT
                """
            try await server.sql(statements)
            if round % 2 == 0 { committed += Array(range) }
            try await server.sql("INSERT INTO big VALUES (\(round), 'small')")
            committed.append(round)
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...1_200, using: &generator)))
            child.send(SIGKILL)
            let termination = try child.wait(timeout: .seconds(30))
            #expect(termination == .signaled(SIGKILL), "round \(round): the ingester ended on its own: \(child.stderr.text)")
        }
        let drain = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(300))
        #expect(drain.succeeded, "\(drain)")
        #expect(!FileManager.default.fileExists(atPath: directory.log("big") + "/" + StreamStaging.directoryName))
        let verify = try Logd.run(directory.args("verify", "big"))
        #expect(verify.succeeded, "\(verify)")

        let records = try IngestedLog.read(directory.log("big"))
        try IngestedLog.checkWholeTransactionsInOrder(records)
        let ids = records.compactMap { jsonInt(($0.value["after"] as? [String: Any])?["id"]) }.map { Int($0) }
        #expect(ids.count == Set(ids).count, "no row twice")
        #expect(ids.sorted() == committed.sorted(), "exactly the committed rows: \(ids.count) of \(committed.count)")
        let database = try await server.sql("SELECT count(*) FROM big")
        #expect(Int(database[0][0] ?? "") == committed.count)
    }

    @Test(
        "Postgres restarted while a large transaction is staged: it is dropped, the next one comes, logd stat shows what is in flight",
        .enabled(if: PostgresTestServer.isAvailable))
    func postgresRestartWhileStaged() async throws {
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let directory = try TestDirectory()
        try await server.sql("CREATE TABLE staged (id int PRIMARY KEY, note text)")
        let ingest = directory.args(
            "ingest", "postgres", "staged", "--dsn", server.dsn, "--decoding-memory", "64kB", "--slot", "staged_slot",
            "--publication", "staged_pub", "--create", "--status-interval-ms", "200", "--streaming", "on")
        let setup = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
        #expect(setup.succeeded, "\(setup)")
        let child = try Logd.start(ingest)
        let open = Task {
            // Held open until the restart ends it.
            try await ReplicationConnection.withConnection(configuration: server.configuration(replication: .none)) {
                connection in
                _ = try await connection.simpleQuery(
                    "BEGIN; INSERT INTO staged SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g")
                try await Task.sleep(for: .seconds(600))
            }
        }
        // The ingester stages it while it runs: logd stat says so (a loaded CI machine can take its time).
        var inFlight = ""
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let stat = try Logd.run(directory.args("stat", "staged"))
            inFlight = stat.lines.first { $0.hasPrefix("in flight:") } ?? stat.output
            if inFlight.hasPrefix("in flight:     1 streamed") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(inFlight.hasPrefix("in flight:     1 streamed transactions"), "\(inFlight)")
        try server.restart()
        open.cancel()
        _ = await open.result
        try await server.sql("INSERT INTO staged SELECT g, repeat('y', 200) FROM generate_series(10001, 15000) g")
        let records = try await IngestedLog.waitFor(directory.log("staged"), timeout: .seconds(120)) { records in
            records.contains { jsonInt(($0.value["after"] as? [String: Any])?["id"]) == 15000 }
        }
        child.send(SIGTERM)
        let termination = try child.wait(timeout: .seconds(60))
        #expect(termination == .exited(0), "stderr: \(child.stderr.text)")
        let ids = records.compactMap { jsonInt(($0.value["after"] as? [String: Any])?["id"]) }
        #expect(ids == Array(10001...15000), "only the committed transaction, whole, once")
        try IngestedLog.checkWholeTransactionsInOrder(records)
        let stat = try Logd.run(directory.args("stat", "staged"))
        #expect(stat.output.contains("in flight:     0 streamed transactions, 0 bytes staged"), "\(stat.output)")
        try directory.expectVerifies("staged")
    }
}
