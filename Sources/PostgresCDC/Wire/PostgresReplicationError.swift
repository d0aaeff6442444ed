/// An error of the replication connection: a code to branch on, a message for
/// people, and, when the server said no, its SQLSTATE, detail and hint.
public struct PostgresReplicationError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, to branch on. A struct rather than an enum so that
    /// codes can be added without breaking a user's exhaustive `switch`
    /// (as swift-nio's `FileSystemError.Code`); match with `case .name:` and
    /// keep a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as printed, e.g. `invalidConfiguration`.
        let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The DSN or configuration is wrong.
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// TCP connect failed (refused, unreachable, unknown host).
        public static let connectionFailed = Code("connectionFailed")
        /// The connection closed while a reply was expected.
        public static let connectionClosed = Code("connectionClosed")
        /// TLS was required but the server does not offer it, or the handshake failed.
        public static let tlsUnavailable = Code("tlsUnavailable")
        /// Wrong password or no password (SQLSTATE 28P01, 28000).
        public static let authenticationFailed = Code("authenticationFailed")
        /// The server asked for an authentication method this client does not speak.
        public static let unsupportedAuthentication = Code("unsupportedAuthentication")
        /// The role lacks the REPLICATION attribute (walsender refused, 42501).
        public static let replicationPrivilegeMissing = Code("replicationPrivilegeMissing")
        /// Logical decoding needs `wal_level = logical` (server setting; restart required).
        public static let walLevelNotLogical = Code("walLevelNotLogical")
        /// The replication slot is active for another process (55006).
        public static let slotInUse = Code("slotInUse")
        /// The replication slot does not exist (42704).
        public static let slotMissing = Code("slotMissing")
        /// The replication slot already exists (42710).
        public static let slotExists = Code("slotExists")
        /// A publication named in START_REPLICATION does not exist (42704).
        public static let publicationMissing = Code("publicationMissing")
        /// Any other ErrorResponse from the server.
        public static let serverError = Code("serverError")
        /// The server sent something this client does not understand.
        public static let protocolViolation = Code("protocolViolation")
        /// The call does not fit the connection's state (e.g. SQL while streaming).
        public static let invalidState = Code("invalidState")
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
    init(server fields: ErrorFields, context: String) {
        let sqlState = fields[.sqlState]
        let text = fields[.message] ?? "(no message)"
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
            code, "\(context): \(text)", sqlState: sqlState, severity: fields[.severity],
            detail: fields[.detail], hint: fields[.hint])
    }

    public var description: String {
        var text = "\(code.name): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail { text += " detail: \(detail)" }
        if let hint { text += " hint: \(hint)" }
        if let underlying { text += " cause: \(underlying)" }
        return text
    }
}
