import AsyncTestSupport
import PostgresTestSupport
import Synchronization
import Testing

@testable import PostgresCDC

/// An ingester is likely an actor: the connection must be usable from one
/// (its async methods run on the caller's actor, nonisolated(nonsending)).
actor ActorOwnedConnectionProbe {
    var keepalives = 0

    func identifyAndAnswerOneKeepalive(_ configuration: PostgresConnectionConfiguration) async throws -> LSN {
        try await ReplicationConnection.withConnection(configuration: configuration) { connection in
            let identity = try await connection.identifySystem()
            let slot = try await connection.createReplicationSlot(
                name: "actor_slot", temporary: true, exportSnapshot: false)
            // Ask for a keepalive at once, then answer it from the actor.
            let stream = try await connection.startReplication(
                slot: slot.name, startLSN: slot.consistentPoint, publications: ["actor_pub"])
            try await connection.sendStandbyStatus(
                write: slot.consistentPoint, flush: slot.consistentPoint, apply: slot.consistentPoint, replyRequested: true)
            for try await message in stream {
                guard case .keepalive(let keepalive) = message else { continue }
                self.keepalives += 1
                try await connection.statusSender.send(
                    write: keepalive.walEnd, flush: keepalive.walEnd, apply: keepalive.walEnd)
                break
            }
            try await connection.endReplication()
            return identity.xLogPosition
        }
    }
}

@Suite("ReplicationConnection used from an actor", .offPool)
struct ReplicationConnectionActorTests {
    @Test(
        "an actor drives queries and the stream; replyRequested from the client brings a keepalive",
        .enabled(if: PostgresTestServer.isAvailable))
    func actorOwnsTheConnection() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql("CREATE TABLE actor_items (id int PRIMARY KEY); CREATE PUBLICATION actor_pub FOR TABLE actor_items")
        let probe = ActorOwnedConnectionProbe()
        let configuration = server.configuration()
        let position = try await withTimeout { try await probe.identifyAndAnswerOneKeepalive(configuration) }
        #expect(position > .zero)
        #expect(await probe.keepalives == 1)
    }

    @Test(
        "a timer task sends status updates while the owner reads the stream (statusSender is Sendable)",
        .enabled(if: PostgresTestServer.isAvailable))
    func statusUpdatesFromATimerTask() async throws {
        let server = try PostgresTestServer.require()
        try await server.sql("CREATE TABLE timer_items (id int PRIMARY KEY); CREATE PUBLICATION timer_pub FOR TABLE timer_items")
        // Creating a slot waits for every transaction running on the server: slow when other tests load it.
        let (commitEnd, confirmed) = try await withTimeout(seconds: 90) {
            try await ReplicationConnection.withConnection(configuration: server.configuration()) { connection in
                let slot = try await connection.createReplicationSlot(name: "timer_slot", exportSnapshot: false)
                try await server.sql("INSERT INTO timer_items VALUES (1)")
                let stream = try await connection.startReplication(
                    slot: slot.name, startLSN: slot.consistentPoint, publications: ["timer_pub"])
                let sender = connection.statusSender
                let acknowledged = LSNBox()
                let commitEnd = try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // The timer: acknowledges whatever the reader has made durable so far.
                        for _ in 0..<20 {
                            let position = acknowledged.value
                            try await sender.send(write: position, flush: position, apply: position)
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    var commitEnd = LSN.zero
                    for try await message in stream {
                        guard case .xLogData(let data) = message,
                            case .commit(let commit) = try PgOutputDecoder.decode(data.payload)
                        else { continue }
                        commitEnd = commit.endLSN
                        acknowledged.value = commitEnd
                        break
                    }
                    try await group.waitForAll()
                    return commitEnd
                }
                // The walsender applies a status update shortly after it arrives: poll briefly.
                var confirmed: LSN?
                for _ in 0..<100 {
                    let rows = try await server.sql(
                        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'timer_slot'")
                    confirmed = rows.first?.first?.flatMap { LSN($0) }
                    if confirmed == commitEnd { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await connection.endReplication()
                try await connection.dropReplicationSlot(name: slot.name)
                return (commitEnd, confirmed)
            }
        }
        #expect(commitEnd > .zero)
        #expect(confirmed == commitEnd)
    }
}

/// The position the reader has made durable, shared with the timer task.
final class LSNBox: Sendable {
    private let storage = Mutex(LSN.zero)
    var value: LSN {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}
