/// A bounds-checked big-endian cursor over one pgoutput message. Every read
/// checks the remaining length first, so hostile input can only throw.
struct PgOutputReader {
    let bytes: ArraySlice<UInt8>
    let tag: UInt8
    /// Index into `bytes` (absolute, as slice indices are).
    private var index: Int

    init(bytes: ArraySlice<UInt8>, tag: UInt8) {
        self.bytes = bytes
        self.tag = tag
        self.index = bytes.startIndex
    }

    /// Bytes consumed so far, relative to the start of the message.
    var position: Int { index - bytes.startIndex }
    var remaining: Int { bytes.endIndex - index }
    var isAtEnd: Bool { index == bytes.endIndex }

    func error(_ code: PgOutputDecodingError.Code, at position: Int, _ message: String) -> PgOutputDecodingError {
        PgOutputDecodingError(code, tag: tag, position: position, message)
    }

    mutating func skip(_ count: Int) {
        index += min(count, remaining)
    }

    private mutating func need(_ count: Int, _ what: @autoclosure () -> String) throws(PgOutputDecodingError) {
        guard remaining >= count else {
            throw error(.truncated, at: position, "\(what()) needs \(count) bytes, \(remaining) left")
        }
    }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws(PgOutputDecodingError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, "Int\(size * 8)")
        var value = T.zero
        for offset in 0..<size {
            value = value << 8 | T(truncatingIfNeeded: bytes[index + offset])
        }
        index += size
        return value
    }

    mutating func uint8() throws(PgOutputDecodingError) -> UInt8 { try integer(UInt8.self) }
    mutating func uint32() throws(PgOutputDecodingError) -> UInt32 { try integer(UInt32.self) }
    mutating func int32() throws(PgOutputDecodingError) -> Int32 { try integer(Int32.self) }
    mutating func uint64() throws(PgOutputDecodingError) -> UInt64 { try integer(UInt64.self) }
    mutating func int64() throws(PgOutputDecodingError) -> Int64 { try integer(Int64.self) }

    mutating func expect(_ byte: UInt8, _ message: String) throws(PgOutputDecodingError) {
        let start = position
        let actual = try uint8()
        guard actual == byte else { throw error(.unexpectedByte, at: start, message + ", got \(actual)") }
    }

    /// An Int16 count that must not be negative.
    mutating func count16() throws(PgOutputDecodingError) -> Int {
        let start = position
        let value = try integer(Int16.self)
        guard value >= 0 else { throw error(.invalidLength, at: start, "negative count \(value)") }
        return Int(value)
    }

    /// An Int32 count or length that must not be negative.
    mutating func length() throws(PgOutputDecodingError) -> Int {
        let start = position
        let value = try int32()
        guard value >= 0 else { throw error(.invalidLength, at: start, "negative length \(value)") }
        return Int(value)
    }

    mutating func bytes(_ count: Int) throws(PgOutputDecodingError) -> ArraySlice<UInt8> {
        try need(count, "a \(count)-byte value")
        let slice = bytes[index..<index + count]
        index += count
        return slice
    }

    /// A NUL-terminated UTF-8 string (the client encoding must be UTF8).
    mutating func string() throws(PgOutputDecodingError) -> String {
        let start = position
        guard let end = bytes[index...].firstIndex(of: 0) else {
            throw error(.truncated, at: start, "string without a terminating NUL")
        }
        guard let text = String(validating: bytes[index..<end], as: UTF8.self) else {
            throw error(.invalidString, at: start, "string is not valid UTF-8")
        }
        index = end + 1
        return text
    }
}
