import AsyncTestSupport
import Foundation
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// The replication connection against a real Postgres 15 (see PostgresTestServer).
@Suite("ReplicationConnection against a real Postgres", .offPool)
struct ReplicationConnectionTests {
    typealias Role = PostgresTestServer.Role

    @Test("CI has Postgres 15: the suite fails rather than skips there")
    func postgresIsInstalledOnCI() throws {
        guard ProcessInfo.processInfo.environment["CI"] != nil else { return }
        #expect(
            PostgresTestServer.isAvailable,
            "CI is set but Postgres 15 is missing in \(PostgresTestServer.binDirectory); scripts/test.sh installs postgresql-15")
        _ = try PostgresTestServer.require()
    }

    // MARK: - Authentication

    @Test(
        "every authentication method connects a replication=database session",
        .enabled(if: PostgresTestServer.isAvailable),
        arguments: [
            (Role.trust, nil), (Role.scram, Role.scramPassword), (Role.md5, Role.md5Password),
            (Role.cleartext, Role.cleartextPassword),
        ] as [(String, String?)])
    func authenticationMethods(user: String, password: String?) async throws {
        let server = try PostgresTestServer.require()
        let rows = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration(user: user, password: password)) {
                connection in
                #expect(connection.parameters["server_version"]?.hasPrefix("15") == true)
                return try await connection.simpleQuery("SELECT current_user, current_database()")
            }
        }
        #expect(rows == [[user, server.database]])
    }

    @Test(
        "a wrong password fails with 28P01 for every password method",
        .enabled(if: PostgresTestServer.isAvailable),
        arguments: [Role.scram, Role.md5, Role.cleartext])
    func wrongPassword(user: String) async throws {
        let server = try PostgresTestServer.require()
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await ReplicationConnection.withConnection(
                configuration: server.configuration(user: user, password: "not-the-password")
            ) { _ in }
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.sqlState == "28P01")
        #expect(error.map { "\($0)" }?.contains("not-the-password") == false)
    }

    @Test("no password where one is required is a clear authentication error", .enabled(if: PostgresTestServer.isAvailable))
    func missingPassword() async throws {
        let server = try PostgresTestServer.require()
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await ReplicationConnection.withConnection(configuration: server.configuration(user: Role.scram)) { _ in }
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.message.contains("none was given") == true)
    }

    @Test("a role without REPLICATION cannot open a walsender session", .enabled(if: PostgresTestServer.isAvailable))
    func missingReplicationPrivilege() async throws {
        let server = try PostgresTestServer.require()
        let configuration = server.configuration(user: Role.noReplication, password: Role.noReplicationPassword)
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await ReplicationConnection.withConnection(configuration: configuration) { _ in }
        }
        #expect(error?.code == .replicationPrivilegeMissing)
        #expect(error?.sqlState == "42501")
        // The same role may open a normal session: the password was right.
        var normal = configuration
        normal.replication = .none
        let rows = try await ReplicationConnection.withConnection(configuration: normal) { try await $0.simpleQuery("SELECT 1") }
        #expect(rows == [["1"]])
    }

    @Test("an unreachable host is a connectionFailed error naming host and port", .enabled(if: PostgresTestServer.isAvailable))
    func unreachableHost() async throws {
        let port = try PostgresTestServer.freePort()
        let configuration = PostgresConnectionConfiguration(
            host: "127.0.0.1", port: port, user: "nobody", database: "nothing", tlsMode: .disable)
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await ReplicationConnection.withConnection(configuration: configuration) { _ in }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(error?.underlying != nil)
    }

    // MARK: - Simple query

    @Test("simple query returns text and NULLs for every statement", .enabled(if: PostgresTestServer.isAvailable))
    func simpleQueryRows() async throws {
        let server = try PostgresTestServer.require()
        let rows = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration(replication: .none)) {
                try await $0.simpleQuery(
                    "SELECT g, CASE WHEN g = 2 THEN NULL ELSE 'row ' || g END, 'ü' FROM generate_series(1, 3) g; SELECT 'x'; SET search_path = public"
                )
            }
        }
        #expect(rows == [["1", "row 1", "ü"], ["2", nil, "ü"], ["3", "row 3", "ü"], ["x"]])
    }

    @Test(
        "a server error carries SQLSTATE, message, detail and hint; the connection stays usable",
        .enabled(if: PostgresTestServer.isAvailable))
    func simpleQueryError() async throws {
        let server = try PostgresTestServer.require()
        try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let error = await #expect(throws: PostgresReplicationError.self) {
                    try await connection.simpleQuery(
                        "DO $$ BEGIN RAISE EXCEPTION 'custom failure' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0001'; END $$"
                    )
                }
                #expect(error?.code == .serverError)
                #expect(error?.sqlState == "P0001")
                #expect(error?.message.contains("custom failure") == true)
                #expect(error?.detail == "the detail")
                #expect(error?.hint == "the hint")
                let missing = await #expect(throws: PostgresReplicationError.self) {
                    try await connection.simpleQuery("SELECT * FROM no_such_table")
                }
                #expect(missing?.sqlState == "42P01")
                let answer = try await connection.simpleQuery("SELECT 41 + 1")
                #expect(answer == [["42"]])
            }
        }
    }

    // MARK: - Replication commands

    @Test("IDENTIFY_SYSTEM names system, timeline, WAL position and database", .enabled(if: PostgresTestServer.isAvailable))
    func identifySystem() async throws {
        let server = try PostgresTestServer.require()
        let identity = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) {
                try await $0.identifySystem()
            }
        }
        #expect(UInt64(identity.systemID) != nil)
        #expect(identity.timeline == 1)
        #expect(identity.xLogPosition > .zero)
        #expect(identity.database == server.database)
    }

    @Test(
        "a slot created with an exported snapshot sees exactly the rows before the consistent point",
        .enabled(if: PostgresTestServer.isAvailable))
    func createSlotWithExportedSnapshot() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql("CREATE TABLE snap_rows (id int PRIMARY KEY); INSERT INTO snap_rows SELECT generate_series(1, 10)")
        try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(name: "snapshot_slot", exportSnapshot: true)
                #expect(slot.name == "snapshot_slot")
                #expect(slot.outputPlugin == "pgoutput")
                #expect(slot.consistentPoint > .zero)
                let snapshot = try #require(slot.snapshotName)
                try await server.sql("INSERT INTO snap_rows SELECT generate_series(11, 15)")
                // The exported snapshot is usable from another session while this one stays idle.
                let counts = try await ReplicationConnection.withConnection(
                    configuration: server.configuration(replication: .none)
                ) { other in
                    try await other.simpleQuery(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '\(snapshot)'; SELECT count(*) FROM snap_rows; COMMIT"
                    )
                }
                #expect(counts == [["10"]])
                try await connection.dropReplicationSlot(name: "snapshot_slot")
            }
        }
    }

    @Test(
        "COPY TO STDOUT inside an exported snapshot delivers every row of the snapshot, in text format",
        .enabled(if: PostgresTestServer.isAvailable))
    func copyOutInsideExportedSnapshot() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql(
            "CREATE TABLE copy_rows (id int PRIMARY KEY, note text); INSERT INTO copy_rows SELECT g, 'n' || g FROM generate_series(1, 1000) g"
        )
        let (reported, rows) = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(
                    name: "copy_slot", temporary: true, exportSnapshot: true)
                let snapshot = try #require(slot.snapshotName)
                try await server.sql("INSERT INTO copy_rows VALUES (1001, NULL)")
                return try await ReplicationConnection.withConnection(configuration: server.configuration(replication: .none)) {
                    other in
                    _ = try await other.simpleQuery(
                        "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '\(snapshot)'")
                    var rows: [String] = []
                    let reported = try await other.copyOut("COPY copy_rows TO STDOUT") { row in
                        rows.append(String(decoding: row, as: UTF8.self))
                    }
                    _ = try await other.simpleQuery("COMMIT")
                    return (reported, rows)
                }
            }
        }
        #expect(reported == 1000)
        #expect(rows.count == 1000)
        #expect(rows.first == "1\tn1\n")
        #expect(!rows.contains { $0.hasPrefix("1001\t") })
    }

    @Test(
        "streaming: INSERT, UPDATE, DELETE, TRUNCATE arrive as XLogData that PgOutputDecoder decodes",
        .enabled(if: PostgresTestServer.isAvailable))
    func streamsChanges() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql(
            "CREATE TABLE stream_items (id int PRIMARY KEY, name text); CREATE PUBLICATION stream_pub FOR TABLE stream_items")
        let messages = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(name: "stream_slot", exportSnapshot: false)
                // One transaction each (a multi-statement simple query would be one).
                try await server.sql("INSERT INTO stream_items VALUES (1, 'ann'), (2, 'bob')")
                try await server.sql("UPDATE stream_items SET name = 'bea' WHERE id = 2")
                try await server.sql("DELETE FROM stream_items WHERE id = 1")
                try await server.sql("TRUNCATE stream_items")
                var decoded: [(XLogData, PgOutputMessage)] = []
                var commits = 0
                var transactionHasChanges = false
                for try await message in try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["stream_pub"])
                {
                    guard case .xLogData(let data) = message else { continue }
                    let pgMessage = try PgOutputDecoder.decode(data.payload)
                    decoded.append((data, pgMessage))
                    switch pgMessage {
                    case .begin: transactionHasChanges = false
                    case .insert, .update, .delete, .truncate: transactionHasChanges = true
                    case .commit where transactionHasChanges: commits += 1
                    default: break
                    }
                    if commits == 4 { break }
                }
                try await connection.endReplication()
                try await connection.dropReplicationSlot(name: slot.name)
                return decoded.map { StreamedMessage(data: $0.0, message: $0.1) }
            }
        }
        // Publications do not filter logical messages: another test's
        // pg_logical_emit_message may stream here, alone or in a transaction of its own. Leave those out.
        let own = StreamedMessage.transactions(messages.filter { $0.kind != "M" })
            .filter { transaction in transaction.contains { !["B", "C"].contains($0.kind) } }
            .flatMap { $0 }
        // Relation messages may be repeated when the relcache is invalidated; look past them.
        #expect(own.map(\.kind).prefix(2) == ["B", "R"])
        let changes = own.filter { $0.kind != "R" }
        #expect(
            changes.map(\.kind) == [
                "B", "I", "I", "C",
                "B", "U", "C",
                "B", "D", "C",
                "B", "T", "C",
            ])
        guard changes.count == 13, case .begin(let begin) = changes[0].message, case .commit(let commit) = changes[3].message
        else {
            Issue.record("first transaction is not Begin ... Commit")
            return
        }
        #expect(begin.finalLSN == commit.commitLSN)
        #expect(commit.endLSN > commit.commitLSN)
        #expect(begin.xid > 0)
        guard own.count > 1, case .relation(let relation) = own[1].message else {
            Issue.record("no Relation before the first Insert")
            return
        }
        #expect(relation.namespace == "public")
        #expect(relation.name == "stream_items")
        #expect(relation.columns.map(\.name) == ["id", "name"])
        #expect(relation.columns.map(\.isKey) == [true, false])
        guard case .insert(let insert) = changes[1].message else {
            Issue.record("no Insert")
            return
        }
        #expect(insert.relationOID == relation.oid)
        #expect(insert.newTuple.columns == [.text(Array("1".utf8)[...]), .text(Array("ann".utf8)[...])])
        guard case .update(let update) = changes[5].message, case .delete(let delete) = changes[8].message,
            case .truncate(let truncate) = changes[11].message
        else {
            Issue.record("no Update/Delete/Truncate")
            return
        }
        #expect(update.newTuple.columns == [.text(Array("2".utf8)[...]), .text(Array("bea".utf8)[...])])
        #expect(delete.oldTuple.tuple.columns.first == .text(Array("1".utf8)[...]))
        #expect(truncate.relationOIDs == [relation.oid])
        // XLogData positions only move forward.
        let starts = messages.map(\.data.dataStart).filter { $0 > .zero }
        #expect(starts == starts.sorted())
    }

    @Test(
        "a keepalive with replyRequested is answered and the session outlives wal_sender_timeout",
        .enabled(if: PostgresTestServer.isAvailable))
    func keepaliveReplyRequested() async throws {
        // Off the cooperative threads: a client scheduled late misses the timeout through no fault of its own.
        try await offPool { try await keepaliveReplyRequestedBody() }
    }

    func keepaliveReplyRequestedBody() async throws {
        // A server of its own: on the shared one the walsender also decodes the other tests' WAL (rows of
        // 60 MB and more), and while it is busy with that this client, which only answers when asked, can
        // miss the timeout through no fault of the code under test.
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        try await server.sql(
            "CREATE TABLE keepalive_items (id int PRIMARY KEY); CREATE PUBLICATION keepalive_pub FOR TABLE keepalive_items")
        let answered = try await withTimeout(seconds: 120) {
            try await ReplicationConnection.withConnection(
                configuration: server.configuration(runtimeParameters: ["wal_sender_timeout": "6s"])
            ) { connection in
                let slot = try await connection.createReplicationSlot(
                    name: "keepalive_slot", temporary: true, exportSnapshot: false)
                let started = ContinuousClock.now
                var answered = 0
                for try await message in try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["keepalive_pub"])
                {
                    guard case .keepalive(let keepalive) = message else { continue }
                    if keepalive.replyRequested {
                        answered += 1
                        try await connection.sendStandbyStatus(
                            write: keepalive.walEnd, flush: keepalive.walEnd, apply: keepalive.walEnd)
                    }
                    // Two and a half timeouts long: without the answers the server would have hung up.
                    if ContinuousClock.now - started > .seconds(15) { break }
                }
                try await connection.endReplication()
                let answer = try await connection.simpleQuery("SELECT 1")
                #expect(answer == [["1"]])
                return answered
            }
        }
        #expect(answered >= 2)
    }

    @Test("standby status updates advance the slot's confirmed_flush_lsn", .enabled(if: PostgresTestServer.isAvailable))
    func standbyStatusAdvancesSlot() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql(
            "CREATE TABLE ack_items (id int PRIMARY KEY); CREATE PUBLICATION ack_pub FOR TABLE ack_items")
        let (acknowledged, confirmed) = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(name: "ack_slot", exportSnapshot: false)
                try await server.sql("INSERT INTO ack_items VALUES (1)")
                var commitEnd = LSN.zero
                for try await message in try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["ack_pub"])
                {
                    guard case .xLogData(let data) = message,
                        case .commit(let commit) = try PgOutputDecoder.decode(data.payload)
                    else { continue }
                    commitEnd = commit.endLSN
                    break
                }
                try await connection.sendStandbyStatus(write: commitEnd, flush: commitEnd, apply: commitEnd)
                var confirmed: LSN?
                for _ in 0..<100 {
                    let rows = try await server.sql(
                        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'ack_slot'")
                    confirmed = rows.first?.first?.flatMap { $0 }.flatMap { LSN($0) }
                    if let confirmed, confirmed >= commitEnd { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                try await connection.endReplication()
                try await connection.dropReplicationSlot(name: slot.name)
                return (commitEnd, confirmed)
            }
        }
        #expect(acknowledged > .zero)
        #expect(confirmed == acknowledged)
    }

    // MARK: - Server errors during replication

    @Test("a slot streaming to another session is slotInUse (55006)", .enabled(if: PostgresTestServer.isAvailable))
    func slotInUse() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql("CREATE TABLE busy_items (id int PRIMARY KEY); CREATE PUBLICATION busy_pub FOR TABLE busy_items")
        try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { first in
                let slot = try await first.createReplicationSlot(name: "busy_slot", exportSnapshot: false)
                _ = try await first.startReplication(slot: slot.name, startLSN: slot.consistentPoint, publications: ["busy_pub"])
                let error = await #expect(throws: PostgresReplicationError.self) {
                    try await ReplicationConnection.withConnection(configuration: server.configuration()) { second in
                        _ = try await second.startReplication(slot: slot.name, startLSN: .zero, publications: ["busy_pub"])
                    }
                }
                #expect(error?.code == .slotInUse)
                #expect(error?.sqlState == "55006")
                try await first.endReplication()
                try await first.dropReplicationSlot(name: slot.name)
            }
        }
    }

    @Test("a missing slot is slotMissing (42704)", .enabled(if: PostgresTestServer.isAvailable))
    func slotMissing() async throws {
        let server = try PostgresTestServer.require()
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) {
                _ = try await $0.startReplication(slot: "no_such_slot", startLSN: .zero, publications: ["p"])
            }
        }
        #expect(error?.code == .slotMissing)
        #expect(error?.sqlState == "42704")
    }

    @Test(
        "a missing publication fails the stream with publicationMissing (42704) at the first change",
        .enabled(if: PostgresTestServer.isAvailable))
    func publicationMissing() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql("CREATE TABLE nopub_items (id int PRIMARY KEY)")
        try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(
                    name: "nopub_slot", temporary: true, exportSnapshot: false)
                try await server.sql("INSERT INTO nopub_items VALUES (1)")
                let stream = try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["no_such_publication"])
                let error = await #expect(throws: PostgresReplicationError.self) {
                    for try await _ in stream {}
                }
                #expect(error?.code == .publicationMissing)
                #expect(error?.sqlState == "42704")
                #expect(error?.message.contains("no_such_publication") == true)
            }
        }
    }

    @Test("creating a logical slot with wal_level=replica is walLevelNotLogical", .enabled(if: PostgresTestServer.isAvailable))
    func walLevelNotLogical() async throws {
        let server = try PostgresTestServer(walLevel: "replica")
        defer { server.stop() }
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await withTimeout {
                try await ReplicationConnection.withConnection(configuration: server.configuration()) {
                    _ = try await $0.createReplicationSlot(name: "never", exportSnapshot: false)
                }
            }
        }
        #expect(error?.code == .walLevelNotLogical)
        #expect(error?.sqlState == "55000")
    }
}

/// A decoded message with its XLogData header, for readable expectations.
struct StreamedMessage: Sendable {
    var data: XLogData
    var message: PgOutputMessage

    /// Groups messages into Begin ... Commit runs (a trailing open run included).
    static func transactions(_ messages: [StreamedMessage]) -> [[StreamedMessage]] {
        var transactions: [[StreamedMessage]] = []
        var current: [StreamedMessage] = []
        for message in messages {
            current.append(message)
            if message.kind == "C" {
                transactions.append(current)
                current = []
            }
        }
        if !current.isEmpty { transactions.append(current) }
        return transactions
    }

    var kind: String {
        switch message {
        case .begin: "B"
        case .commit: "C"
        case .origin: "O"
        case .relation: "R"
        case .type: "Y"
        case .insert: "I"
        case .update: "U"
        case .delete: "D"
        case .truncate: "T"
        case .message: "M"
        case .streamStart: "S"
        case .streamStop: "E"
        case .streamCommit: "c"
        case .streamAbort: "A"
        case .unsupported: "?"
        }
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var seconds: Int
    var description: String { "timed out after \(seconds) s" }
}

/// Runs `body`, failing (and cancelling it) after `seconds`, so a broken
/// protocol exchange fails the test instead of hanging the suite.
func withTimeout<T: Sendable>(seconds: Int = 20, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeoutError(seconds: seconds)
        }
        return value
    }
}
