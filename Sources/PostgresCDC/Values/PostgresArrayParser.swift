/// One element of a parsed Postgres array literal.
enum PostgresArrayElement: Hashable, Sendable {
    /// An unquoted `NULL` (any letter case). A quoted `"NULL"` is a value.
    case null
    /// The element's text with quoting and backslash escapes removed.
    case value([UInt8])
    /// A sub-array of a multi-dimensional array.
    case array([PostgresArrayElement])
}

/// Parses the text output of a Postgres array (`array_out`): `{1,2,NULL}`,
/// `{"a b","c\"d",NULL}`, `{{1,2},{3,4}}`, `{}`, and the dimension decoration
/// `[0:1]={7,8}` that Postgres writes when a lower bound is not 1 (the bounds
/// are dropped: JSON arrays start at 0).
///
/// The rules follow `array_in`: whitespace around elements is ignored, inside
/// double quotes it is kept; a backslash escapes the next byte in quoted and
/// unquoted elements alike.
enum PostgresArrayParser {
    /// Postgres allows at most 6 dimensions (MAXDIM); a little slack, and a
    /// bound so that hostile input cannot exhaust the stack.
    static let maximumDepth = 16

    /// - Returns: the top-level elements, or nil when `text` is not a well-formed
    ///   array literal with `,` as the delimiter.
    static func parse<C: Collection<UInt8>>(_ text: C) -> [PostgresArrayElement]? where C.Index == Int {
        var parser = Parser(text: text, index: text.startIndex)
        parser.skipWhitespace()
        if parser.peek == UInt8(ascii: "[") {
            // Dimension decoration: `[lo:hi][lo:hi]...=` before the braces.
            while let byte = parser.peek, byte != UInt8(ascii: "=") {
                guard
                    byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ":")
                        || byte == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                else { return nil }
                parser.index += 1
            }
            guard parser.peek == UInt8(ascii: "=") else { return nil }
            parser.index += 1
            parser.skipWhitespace()
        }
        guard let elements = parser.array(depth: 1) else { return nil }
        parser.skipWhitespace()
        return parser.index == text.endIndex ? elements : nil
    }

    private struct Parser<C: Collection<UInt8>> where C.Index == Int {
        let text: C
        var index: Int

        var peek: UInt8? { index < text.endIndex ? text[index] : nil }

        mutating func skipWhitespace() {
            while let byte = peek, Parser.isWhitespace(byte) { index += 1 }
        }

        static func isWhitespace(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == 0x09 || byte == 0x0A || byte == 0x0B || byte == 0x0C || byte == 0x0D
        }

        /// `{ element (, element)* }` or `{}`, starting at the `{`.
        mutating func array(depth: Int) -> [PostgresArrayElement]? {
            guard depth <= PostgresArrayParser.maximumDepth, peek == UInt8(ascii: "{") else { return nil }
            index += 1
            skipWhitespace()
            var elements: [PostgresArrayElement] = []
            if peek == UInt8(ascii: "}") {
                index += 1
                return elements
            }
            while true {
                skipWhitespace()
                guard let byte = peek else { return nil }
                if byte == UInt8(ascii: "{") {
                    guard let nested = array(depth: depth + 1) else { return nil }
                    elements.append(.array(nested))
                } else if byte == UInt8(ascii: "\"") {
                    guard let value = quoted() else { return nil }
                    elements.append(.value(value))
                } else {
                    guard let element = unquoted() else { return nil }
                    elements.append(element)
                }
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","):
                    index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return elements
                default:
                    return nil
                }
            }
        }

        /// `"..."` with `\x` escapes, starting at the opening quote.
        mutating func quoted() -> [UInt8]? {
            index += 1
            var value: [UInt8] = []
            while let byte = peek {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return value
                case UInt8(ascii: "\\"):
                    guard let escaped = peek else { return nil }
                    value.append(escaped)
                    index += 1
                default:
                    value.append(byte)
                }
            }
            return nil
        }

        /// Bytes up to `,` or `}`, trailing unescaped whitespace dropped; an
        /// unescaped `NULL` is the null element.
        mutating func unquoted() -> PostgresArrayElement? {
            var value: [UInt8] = []
            var keptLength = 0  // length without trailing unescaped whitespace
            var escaped = false
            while let byte = peek, byte != UInt8(ascii: ","), byte != UInt8(ascii: "}") {
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") { return nil }
                index += 1
                if byte == UInt8(ascii: "\\") {
                    guard let next = peek else { return nil }
                    value.append(next)
                    index += 1
                    keptLength = value.count
                    escaped = true
                } else {
                    value.append(byte)
                    if !Parser.isWhitespace(byte) { keptLength = value.count }
                }
            }
            value.removeLast(value.count - keptLength)
            guard !value.isEmpty else { return nil }
            if !escaped, value.count == 4,
                value.map({ $0 | 0x20 }) == Array("null".utf8)
            {
                return .null
            }
            return .value(value)
        }
    }
}
