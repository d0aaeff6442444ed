import NIOCore

extension ReplicationConnection {
    /// Runs `COPY ... TO STDOUT` and hands each row (one CopyData message, in
    /// the COPY format asked for, text by default, with its trailing newline)
    /// to `row`, in order, reading the socket only as fast as `row` returns.
    ///
    /// For the initial snapshot: on a normal session, `BEGIN ISOLATION LEVEL
    /// REPEATABLE READ; SET TRANSACTION SNAPSHOT '<exported>'` (simpleQuery),
    /// then `copyOut` per table, then `COMMIT`.
    ///
    /// - Returns: the number of rows the server reported (`COPY n`).
    /// - Throws: `PostgresReplicationError` for a server error; what `row`
    ///   throws, after closing the connection (it is mid-COPY and unusable).
    nonisolated(nonsending) public func copyOut(_ sql: String, row: ([UInt8]) async throws -> Void) async throws -> Int {
        guard !isStreaming else {
            throw PostgresReplicationError(.invalidState, "the connection is streaming; end replication first")
        }
        try await send(.query(sql))
        var replies = CommandReplies(context: Self.commandName(sql))
        var count = 0
        while var message = try await nextReply(&replies) {
            switch message.id {
            case .copyData:
                do {
                    try await row(message.body.readBytes(length: message.body.readableBytes) ?? [])
                } catch {
                    await close()
                    throw error
                }
            case .commandComplete:
                if let tag = message.body.readNullTerminatedString(), tag.hasPrefix("COPY "),
                    let reported = Int(tag.dropFirst(5))
                {
                    count = reported
                }
            case .copyInResponse:
                try await send(.copyFail("copyOut does not send COPY FROM STDIN data"))
            default:
                continue  // CopyOutResponse, CopyDone, RowDescription of a non-COPY statement
            }
        }
        return count
    }
}
