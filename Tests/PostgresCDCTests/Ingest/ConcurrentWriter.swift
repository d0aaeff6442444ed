import PostgresTestSupport
import Synchronization

@testable import PostgresCDC

/// Commits small transactions on a connection of its own until stopped: each
/// inserts a new row and updates an older one; every fifth deletes one of the
/// rows it inserted.
final class ConcurrentWriter: Sendable {
    let server: PostgresTestServer
    let table: String
    private let stopRequested = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private let committed = Atomic<Int>(0)

    init(server: PostgresTestServer, table: String) {
        self.server = server
        self.table = table
    }

    struct Written: Sendable {
        var highestID: Int
        var deletedIDs: Set<Int>
    }

    /// Writes until `stop()`.
    func run(firstID: Int) async throws -> Written {
        defer { finished.store(true, ordering: .sequentiallyConsistent) }
        return try await ReplicationConnection.withConnection(configuration: server.configuration(replication: .none)) {
            connection in
            var next = firstID
            var step = 0
            var deleted: Set<Int> = []
            while !stopRequested.load(ordering: .sequentiallyConsistent) {
                step += 1
                var statements = "INSERT INTO \(table) VALUES (\(next), 0, 'new'); "
                statements += "UPDATE \(table) SET v = v + 1, note = 'step \(step)' WHERE id = \(step * 7919 % next + 1);"
                if step % 5 == 0 {
                    let victim = firstID + step * 104_729 % (next - firstID + 1)
                    statements += "DELETE FROM \(table) WHERE id = \(victim);"
                    deleted.insert(victim)
                }
                _ = try await connection.simpleQuery(statements)
                next += 1
                committed.add(1, ordering: .sequentiallyConsistent)
            }
            return Written(highestID: next - 1, deletedIDs: deleted)
        }
    }

    func stop() { stopRequested.store(true, ordering: .sequentiallyConsistent) }

    /// Waits until `count` more transactions have committed, or the writer ended.
    func waitForCommits(_ count: Int) async throws {
        let target = committed.load(ordering: .sequentiallyConsistent) + count
        while committed.load(ordering: .sequentiallyConsistent) < target, !finished.load(ordering: .sequentiallyConsistent) {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
