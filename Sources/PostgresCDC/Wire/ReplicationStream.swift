/// The messages of a started replication (XLogData and keepalives), in
/// server order. Reading pulls from the socket: while nobody iterates, at most
/// `ReplicationConnection.maximumBufferedMessages` messages are buffered and
/// the socket is not read (backpressure reaches the walsender through TCP).
///
/// The stream ends (nil) when the server ends COPY; it throws
/// `PostgresReplicationError` on a server error (e.g. `.publicationMissing`)
/// or a lost connection. Iterate it from the task that owns the connection;
/// acknowledge progress with `ReplicationConnection.statusSender`.
public struct ReplicationStream: AsyncSequence {
    public typealias Element = ReplicationMessage
    public typealias Failure = PostgresReplicationError

    let connection: ReplicationConnection

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(connection: connection)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let connection: ReplicationConnection

        public mutating func next() async throws(PostgresReplicationError) -> ReplicationMessage? {
            try await connection.nextReplicationMessage()
        }

        /// Runs on the caller's actor, so an actor can own the connection.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws(PostgresReplicationError)
            -> ReplicationMessage?
        {
            try await connection.nextReplicationMessage()
        }
    }
}

@available(*, unavailable)
extension ReplicationStream: Sendable {}
