/// An error from the log store: what went wrong (`code`), where (`path`,
/// `offset`, `position`), and the underlying cause when there is one.
public struct LogStoreError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, stable for callers that branch on it. A struct
    /// rather than an enum so that new codes can come without breaking a
    /// caller's exhaustive `switch` (as swift-nio's `FileSystemError.Code`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, as `description` prints it.
        public let name: String

        private init(_ name: String) { self.name = name }

        public var description: String { name }

        /// A system call failed (open, read, write, fsync, mmap, ...).
        public static let io = Code("io")
        /// Stored bytes failed a check (CRC, length, offset sequence): never returned as data.
        public static let corruption = Code("corruption")
        /// The requested offset is not in the log (below the oldest retained or at/after the next).
        public static let offsetOutOfRange = Code("offsetOutOfRange")
        /// A caller passed something invalid (empty batch, oversized record, bad name).
        public static let invalidArgument = Code("invalidArgument")
        /// A batch encoded elsewhere uses a compression codec this build cannot read (Kafka's
        /// UNSUPPORTED_COMPRESSION_TYPE): nothing of it is stored.
        public static let unsupportedCompression = Code("unsupportedCompression")
        /// A record batch encoded elsewhere is larger than the log's `max.message.bytes`
        /// (Kafka's MESSAGE_TOO_LARGE): nothing of it is stored.
        public static let tooLarge = Code("tooLarge")
        /// The log was closed, or is open in another process.
        public static let unavailable = Code("unavailable")
    }

    public var code: Code
    public var message: String
    /// The file involved, when one is.
    public var path: String?
    /// The record offset involved, when one is.
    public var offset: Int64?
    /// The byte position in `path` involved, when one is.
    public var position: Int64?
    /// The underlying error (an `Errno`, usually).
    public var underlying: (any Error)?

    public init(
        _ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil, position: Int64? = nil,
        underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.position = position
        self.underlying = underlying
    }

    public var description: String {
        var text = message
        var details: [String] = []
        if let path { details.append("file \(path)") }
        if let offset { details.append("offset \(offset)") }
        if let position { details.append("position \(position)") }
        if !details.isEmpty { text += " (" + details.joined(separator: ", ") + ")" }
        if let underlying { text += ": \(underlying)" }
        return text
    }
}
