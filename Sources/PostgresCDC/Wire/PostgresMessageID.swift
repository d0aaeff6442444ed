/// The type byte of each backend message this client reads (PostgreSQL
/// "Message Formats"). The letter each id stands for is in its comment; the
/// code matches ids, never raw bytes.
enum BackendMessageID: UInt8, Sendable {
    case authentication = 82  // ascii: R
    case backendKeyData = 75  // ascii: K
    case commandComplete = 67  // ascii: C
    case copyBothResponse = 87  // ascii: W
    case copyData = 100  // ascii: d
    case copyDone = 99  // ascii: c
    case copyInResponse = 71  // ascii: G
    case copyOutResponse = 72  // ascii: H
    case dataRow = 68  // ascii: D
    case emptyQueryResponse = 73  // ascii: I
    case errorResponse = 69  // ascii: E
    case noticeResponse = 78  // ascii: N
    case notificationResponse = 65  // ascii: A
    case parameterStatus = 83  // ascii: S
    case readyForQuery = 90  // ascii: Z
    case rowDescription = 84  // ascii: T
}

/// The type byte of each frontend message this client sends. StartupMessage
/// and SSLRequest have none.
enum FrontendMessageID: UInt8, Sendable {
    case copyData = 100  // ascii: d
    case copyDone = 99  // ascii: c
    case copyFail = 102  // ascii: f
    /// PasswordMessage, SASLInitialResponse and SASLResponse share it.
    case password = 112  // ascii: p
    case query = 81  // ascii: Q
    case terminate = 88  // ascii: X
}

/// The field types of an ErrorResponse or NoticeResponse body this client
/// reads (PostgreSQL "Error and Notice Message Fields").
enum ErrorFieldID: UInt8, Sendable {
    case severity = 86  // ascii: V (not localized)
    case sqlState = 67  // ascii: C
    case message = 77  // ascii: M
    case detail = 68  // ascii: D
    case hint = 72  // ascii: H
}

/// The first byte of a CopyData message in the streaming replication
/// protocol (PostgreSQL "Streaming Replication Protocol").
enum ReplicationMessageID: UInt8, Sendable {
    /// Server to client: WAL data.
    case xLogData = 119  // ascii: w
    /// Server to client: the WAL end, and whether a reply is due.
    case primaryKeepalive = 107  // ascii: k
    /// Client to server: the positions written, flushed and applied.
    case standbyStatusUpdate = 114  // ascii: r
}

/// The single unframed byte the server answers an SSLRequest with.
enum SSLResponse: UInt8, Sendable {
    /// Go on in TLS.
    case willing = 83  // ascii: S
    /// The server has no TLS (ssl = off).
    case unwilling = 78  // ascii: N
}
