/// Why bytes from a client are not a request this codec understands. The
/// server answers none of them: it closes the connection with one log line
/// naming the peer and this error (docs/KAFKA.md).
public struct KafkaDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The bytes end inside a field.
        public static let truncated = Code("truncated")
        /// A field holds an impossible value (a negative length, a count larger than the bytes left).
        public static let invalid = Code("invalid")
        /// An API key this server does not implement.
        public static let unknownAPI = Code("unknownAPI")
        /// A version of a known API that this server does not advertise.
        public static let unsupportedVersion = Code("unsupportedVersion")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
