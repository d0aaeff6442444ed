import Logging
import NIOCore

/// How the replies to one command end, and what an ErrorResponse among them
/// means. The simple-query protocol (PostgreSQL "Simple Query") ends every
/// command, failed or not, with ReadyForQuery; only after it does the
/// connection take the next command, so an error is thrown there, not when it
/// arrives.
struct CommandReplies {
    enum ErrorHandling {
        /// Remember the last ErrorResponse and throw it at ReadyForQuery.
        case throwWhenReady
        /// Throw at once: during startup the server closes the connection
        /// after an ErrorResponse, and no ReadyForQuery follows.
        case throwAtOnce
        /// Log it at debug level under `event` and read on: for replies
        /// that no longer matter (the end of a replication stream).
        case logAndContinue(event: Logger.Message)
    }

    /// Names the command in error messages (`IDENTIFY_SYSTEM`, `startup`, ...).
    let context: String
    let errorHandling: ErrorHandling
    /// Thrown at ReadyForQuery. An ErrorResponse sets it; so may the caller,
    /// for a reply it refuses. The last one set wins.
    var failure: PostgresReplicationError?

    init(context: String, errorHandling: ErrorHandling = .throwWhenReady) {
        self.context = context
        self.errorHandling = errorHandling
    }
}

extension ReplicationConnection {
    /// The next reply to the running command, or nil at its ReadyForQuery;
    /// ErrorResponse is handled as `replies` says, and the remembered failure
    /// is thrown at ReadyForQuery. Notices and ParameterStatus never get here
    /// (`receive()` takes them).
    nonisolated(nonsending) func nextReply(_ replies: inout CommandReplies) async throws(PostgresReplicationError)
        -> BackendMessage?
    {
        while true {
            var message = try await receive()
            switch message.id {
            case .readyForQuery:
                if let failure = replies.failure { throw failure }
                return nil
            case .errorResponse:
                let error = PostgresReplicationError(server: message.body.readErrorFields(), context: replies.context)
                switch replies.errorHandling {
                case .throwWhenReady: replies.failure = error
                case .throwAtOnce: throw error
                case .logAndContinue(let event): logger.debug(event, metadata: ["postgres.error": "\(error)"])
                }
            default:
                return message
            }
        }
    }
}
