import AsyncTestSupport
import Foundation
import PostgresTestSupport
import Testing

@testable import PostgresCDC

@Suite("ReplicationConnection: TLS and backpressure against a real Postgres", .offPool)
struct ReplicationConnectionTLSAndBackpressureTests {
    typealias Role = PostgresTestServer.Role

    @Test(
        "sslmode=require and prefer encrypt (pg_stat_ssl), with SCRAM over TLS too",
        .enabled(if: PostgresTestServer.isAvailable),
        arguments: [PostgresConnectionConfiguration.TLSMode.require, .prefer])
    func tlsWhenTheServerOffersIt(mode: PostgresConnectionConfiguration.TLSMode) async throws {
        let server = try PostgresTestServer.require()
        let rows = try await withTimeout {
            try await ReplicationConnection.withConnection(
                configuration: server.configuration(user: Role.scram, password: Role.scramPassword, tlsMode: mode)
            ) { connection in
                try await connection.simpleQuery("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            }
        }
        #expect(rows == [["t"]])
    }

    @Test(
        "without TLS on the server: require is tlsUnavailable, prefer goes on in plain TCP",
        .enabled(if: PostgresTestServer.isAvailable))
    func noTLSOnTheServer() async throws {
        let server = try PostgresTestServer(walLevel: "logical", tls: false)
        defer { server.stop() }
        let error = await #expect(throws: PostgresReplicationError.self) {
            try await withTimeout {
                try await ReplicationConnection.withConnection(configuration: server.configuration(tlsMode: .require)) { _ in }
            }
        }
        #expect(error?.code == .tlsUnavailable)
        let rows = try await withTimeout {
            try await ReplicationConnection.withConnection(configuration: server.configuration(tlsMode: .prefer)) {
                try await $0.simpleQuery("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            }
        }
        #expect(rows == [["f"]])
    }

    /// A consumer that does not read must stop the socket reads: the walsender
    /// then blocks writing (wait event WalSenderWriteData) with most of a
    /// ~95 MB transaction unsent, instead of the client buffering it all.
    /// Draining afterwards delivers every row.
    @Test(
        "a consumer that stops reading stops the socket reads; the walsender waits", .enabled(if: PostgresTestServer.isAvailable))
    func backpressure() async throws {
        let server = try PostgresTestServer.require()
        let rowCount = 50_000
        try await server.sql(
            "CREATE TABLE pressure_items (id int PRIMARY KEY, body text); CREATE PUBLICATION pressure_pub FOR TABLE pressure_items"
        )
        let (waitEventWhilePaused, received) = try await withTimeout(seconds: 120) {
            try await ReplicationConnection.withConnection(
                configuration: server.configuration(runtimeParameters: ["application_name": "pressure"])
            ) { connection in
                let slot = try await connection.createReplicationSlot(
                    name: "pressure_slot", temporary: true, exportSnapshot: false)
                let stream = try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["pressure_pub"])
                // About 1.9 kB per row, below the TOAST threshold: every byte travels.
                try await server.sql(
                    "INSERT INTO pressure_items SELECT i, repeat(md5(i::text), 60) FROM generate_series(1, \(rowCount)) i")
                try await Task.sleep(for: .seconds(3))
                // sent_lsn is the decoding position for a logical walsender, so it says nothing
                // here; the wait event says the walsender is blocked writing to our socket.
                let waitEvent = try await server.sql(
                    "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'pressure' AND backend_type = 'walsender'")
                var inserts = 0
                let drainStart = ContinuousClock.now
                for try await message in stream {
                    guard case .xLogData(let data) = message else { continue }
                    if case .insert = try PgOutputDecoder.decode(data.payload) { inserts += 1 }
                    if inserts == rowCount { break }
                }
                print("backpressure: drained \(inserts) rows in \(ContinuousClock.now - drainStart)")
                try await connection.endReplication()
                return (waitEvent, inserts)
            }
        }
        #expect(received == rowCount)
        #expect(waitEventWhilePaused == [["WalSenderWriteData"]])
    }
}
