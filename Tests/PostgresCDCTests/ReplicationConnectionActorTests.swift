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

@Suite("ReplicationConnection used from an actor")
struct ReplicationConnectionActorTests {
    @Test("an actor drives queries and the stream; replyRequested from the client brings a keepalive",
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
}
