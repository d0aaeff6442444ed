/// JSON text (RFC 8259) given as bytes, such as a record value that holds a
/// JSON document: `appendMinified` checks that the bytes are exactly one JSON
/// value and appends it without the whitespace between its tokens, so that it
/// can be embedded in a line of JSON output (`logd read --value-format json`).
/// Strings and numbers are copied as they are (strings must be well-formed
/// UTF-8 with valid escapes); nesting deeper than `maxDepth` counts as not JSON.
public enum JSONText {
    public static let maxDepth = 512

    /// Appends the value in `text` minified and returns true; returns false,
    /// having appended nothing, when `text` is not one JSON value.
    public static func appendMinified(_ text: UnsafeRawBufferPointer, to output: inout [UInt8]) -> Bool {
        text.withMemoryRebound(to: UInt8.self) { bytes in
            let start = output.count
            var parser = Parser(bytes: bytes)
            parser.skipWhitespace()
            guard parser.value(into: &output, depth: 0) else {
                output.removeSubrange(start...)
                return false
            }
            parser.skipWhitespace()
            guard parser.index == bytes.count else {
                output.removeSubrange(start...)
                return false
            }
            return true
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(into output: inout [UInt8], depth: Int) -> Bool {
            guard index < bytes.count, depth < JSONText.maxDepth else { return false }
            switch bytes[index] {
            case UInt8(ascii: "{"): return container(into: &output, depth: depth, close: UInt8(ascii: "}"), keyed: true)
            case UInt8(ascii: "["): return container(into: &output, depth: depth, close: UInt8(ascii: "]"), keyed: false)
            case UInt8(ascii: "\""): return string(into: &output)
            case UInt8(ascii: "t"): return literal("true", into: &output)
            case UInt8(ascii: "f"): return literal("false", into: &output)
            case UInt8(ascii: "n"): return literal("null", into: &output)
            default: return number(into: &output)
            }
        }

        /// An object (`keyed`: members `"key": value`) or an array, from its opening bracket.
        mutating func container(into output: inout [UInt8], depth: Int, close: UInt8, keyed: Bool) -> Bool {
            output.append(bytes[index])
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == close {
                output.append(close)
                index += 1
                return true
            }
            while true {
                if keyed {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), string(into: &output) else { return false }
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    output.append(UInt8(ascii: ":"))
                    index += 1
                    skipWhitespace()
                }
                guard value(into: &output, depth: depth + 1) else { return false }
                skipWhitespace()
                guard index < bytes.count else { return false }
                if bytes[index] == close {
                    output.append(close)
                    index += 1
                    return true
                }
                guard bytes[index] == UInt8(ascii: ",") else { return false }
                output.append(UInt8(ascii: ","))
                index += 1
                skipWhitespace()
            }
        }

        /// A string, from its opening quote: no control characters, valid escapes, well-formed UTF-8.
        mutating func string(into output: inout [UInt8]) -> Bool {
            let start = index
            index += 1
            let base = UnsafeRawPointer(bytes.baseAddress)
            while index < bytes.count {
                // Eight bytes at a time while none is a quote, a backslash, a control or non-ASCII byte.
                if let base {
                    while index + 8 <= bytes.count,
                        !JSONString.needsLook(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    {
                        index += 8
                    }
                    if index >= bytes.count { return false }
                }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    return true
                case UInt8(ascii: "\\"):
                    guard index + 1 < bytes.count else { return false }
                    let escaped = bytes[index + 1]
                    if escaped == UInt8(ascii: "u") {
                        guard index + 6 <= bytes.count,
                            bytes[index + 2..<index + 6].allSatisfy({ Self.isHexDigit($0) })
                        else { return false }
                        index += 6
                    } else {
                        switch escaped {
                        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                            index += 2
                        default:
                            return false
                        }
                    }
                case 0..<0x20:
                    return false
                case 0x80...:
                    let sequence = JSONString.sequence(in: bytes, at: index)
                    guard sequence.isWellFormed else { return false }
                    index += sequence.length
                default:
                    index += 1
                }
            }
            return false
        }

        mutating func literal(_ word: String, into output: inout [UInt8]) -> Bool {
            let count = word.utf8.count
            guard index + count <= bytes.count, bytes[index..<index + count].elementsEqual(word.utf8) else { return false }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[index..<index + count]))
            index += count
            return true
        }

        /// A number: the longest run of number characters, which must match the JSON grammar.
        mutating func number(into output: inout [UInt8]) -> Bool {
            let start = index
            while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
            let run = UnsafeBufferPointer(rebasing: bytes[start..<index])
            guard !run.isEmpty, JSONWriter.isJSONNumber(run) else { return false }
            output.append(contentsOf: run)
            return true
        }

        static func isHexDigit(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
        }

        static func isNumberByte(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
        }
    }
}
