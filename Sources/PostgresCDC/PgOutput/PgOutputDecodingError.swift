/// Why a pgoutput message could not be decoded, which message it was and at
/// which byte of it the decoder stopped. Decoding never traps on bad input;
/// it throws this.
public struct PgOutputDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, to branch on. A struct rather than an enum so that
    /// codes can be added without breaking a user's exhaustive `switch`
    /// (as swift-nio's `FileSystemError.Code`); match with `case .name:` and
    /// keep a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as printed, e.g. `truncated`.
        let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// The message ended before a field it must contain.
        public static let truncated = Code("truncated")
        /// Bytes remain after the last field of the message.
        public static let trailingBytes = Code("trailingBytes")
        /// The first byte names no pgoutput message.
        public static let unknownMessageType = Code("unknownMessageType")
        /// A sub-message marker is wrong: not `N`/`K`/`O` in Update/Delete,
        /// or a TupleData kind other than `n`/`u`/`t`/`b`.
        public static let unexpectedByte = Code("unexpectedByte")
        /// A count or length is negative.
        public static let invalidLength = Code("invalidLength")
        /// A string has no terminating NUL or is not valid UTF-8.
        public static let invalidString = Code("invalidString")
    }

    public var code: Code
    /// The message type byte (`B`, `R`, `U`, ...), nil when the message was empty.
    public var tag: UInt8?
    /// The byte offset within the message where the problem was found.
    public var position: Int
    public var message: String

    public init(_ code: Code, tag: UInt8?, position: Int, _ message: String) {
        self.code = code
        self.tag = tag
        self.position = position
        self.message = message
    }

    public var description: String {
        let name = tag.map { PgOutputDecodingError.name(ofTag: $0) } ?? "empty message"
        return "pgoutput \(name): \(message) (at byte \(position))"
    }

    /// `"Update ('U')"`, or the byte in hex when it is not printable.
    static func name(ofTag tag: UInt8) -> String {
        let printable = (0x21...0x7E).contains(tag) ? "'\(Character(Unicode.Scalar(tag)))'" : "0x" + String(tag, radix: 16)
        if let name = PgOutputMessageID(rawValue: tag)?.name { return "\(name) (\(printable))" }
        return "message \(printable)"
    }
}
