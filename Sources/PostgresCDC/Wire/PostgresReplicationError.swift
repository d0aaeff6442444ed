/// An error of the replication connection: a code to branch on, a message for
/// people, and, when the server said no, its SQLSTATE, detail and hint.
public struct PostgresReplicationError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The DSN or configuration is wrong.
        case invalidConfiguration
        /// TCP connect failed (refused, unreachable, unknown host).
        case connectionFailed
        /// The connection closed while a reply was expected.
        case connectionClosed
        /// TLS was required but the server does not offer it, or the handshake failed.
        case tlsUnavailable
        /// Wrong password or no password (SQLSTATE 28P01, 28000).
        case authenticationFailed
        /// The server asked for an authentication method this client does not speak.
        case unsupportedAuthentication
        /// The role lacks the REPLICATION attribute (walsender refused, 42501).
        case replicationPrivilegeMissing
        /// Logical decoding needs `wal_level = logical` (server setting; restart required).
        case walLevelNotLogical
        /// The replication slot is active for another process (55006).
        case slotInUse
        /// The replication slot does not exist (42704).
        case slotMissing
        /// The replication slot already exists (42710).
        case slotExists
        /// A publication named in START_REPLICATION does not exist (42704).
        case publicationMissing
        /// Any other ErrorResponse from the server.
        case serverError
        /// The server sent something this client does not understand.
        case protocolViolation
        /// The call does not fit the connection's state (e.g. SQL while streaming).
        case invalidState
    }

    public var code: Code
    public var message: String
    /// SQLSTATE of the server's ErrorResponse, when the server sent one.
    public var sqlState: String?
    public var severity: String?
    public var detail: String?
    public var hint: String?
    /// The lower-level error (e.g. the socket error), when there was one.
    public var underlying: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, sqlState: String? = nil, severity: String? = nil, detail: String? = nil,
        hint: String? = nil, underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.severity = severity
        self.detail = detail
        self.hint = hint
        self.underlying = underlying
    }

    /// Maps a server ErrorResponse to a code, using the SQLSTATE and, where
    /// Postgres reuses one SQLSTATE for several things (42704), the message.
    init(server fields: [UInt8: String], context: String) {
        let sqlState = fields[UInt8(ascii: "C")]
        let text = fields[UInt8(ascii: "M")] ?? "(no message)"
        let code: Code
        switch sqlState {
        case "28P01", "28000": code = .authenticationFailed
        case "55006": code = .slotInUse
        case "42710" where text.contains("replication slot"): code = .slotExists
        case "42704" where text.contains("publication"): code = .publicationMissing
        case "42704" where text.contains("replication slot"): code = .slotMissing
        case "42501" where text.contains("replication"): code = .replicationPrivilegeMissing
        case "55000" where text.contains("wal_level"): code = .walLevelNotLogical
        default: code = .serverError
        }
        self.init(
            code, "\(context): \(text)", sqlState: sqlState, severity: fields[UInt8(ascii: "V")],
            detail: fields[UInt8(ascii: "D")], hint: fields[UInt8(ascii: "H")])
    }

    public var description: String {
        var text = "\(code.rawValue): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += " detail: \(detail)" }
        if let hint { text += " hint: \(hint)" }
        if let underlying { text += " cause: \(underlying)" }
        return text
    }
}
