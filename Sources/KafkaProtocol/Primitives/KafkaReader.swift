import NIOCore

/// A bounds-checked cursor over the bytes of one request (Kafka's primitive
/// types, big-endian): every read either returns a value or throws
/// `KafkaDecodingError`, never traps, whatever the bytes (the fuzz test feeds
/// it random and mutated frames).
public struct KafkaReader {
    var buffer: ByteBuffer

    public init(_ buffer: ByteBuffer) { self.buffer = buffer }

    /// Bytes not read yet.
    public var remaining: Int { buffer.readableBytes }

    mutating func int8() throws(KafkaDecodingError) -> Int8 { try integer() }
    mutating func int16() throws(KafkaDecodingError) -> Int16 { try integer() }
    mutating func int32() throws(KafkaDecodingError) -> Int32 { try integer() }
    mutating func int64() throws(KafkaDecodingError) -> Int64 { try integer() }
    mutating func bool() throws(KafkaDecodingError) -> Bool { try int8() != 0 }

    private mutating func integer<T: FixedWidthInteger>() throws(KafkaDecodingError) -> T {
        guard let value = buffer.readInteger(endianness: .big, as: T.self) else {
            throw KafkaDecodingError(.truncated, "the request ends inside a \(T.bitWidth)-bit integer")
        }
        return value
    }

    /// STRING: an int16 length, then UTF-8 bytes.
    mutating func string() throws(KafkaDecodingError) -> String {
        guard let value = try nullableString() else { throw KafkaDecodingError(.invalid, "null where a string is required") }
        return value
    }

    /// NULLABLE_STRING: length -1 is null.
    mutating func nullableString() throws(KafkaDecodingError) -> String? {
        let length = Int(try int16())
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaDecodingError(.invalid, "string length \(length)") }
        guard let value = buffer.readString(length: length) else {
            throw KafkaDecodingError(.truncated, "a string of \(length) bytes with \(remaining) left")
        }
        return value
    }

    /// NULLABLE_BYTES: an int32 length (-1 is null), then the bytes, as a slice (no copy).
    mutating func nullableBytes() throws(KafkaDecodingError) -> ByteBuffer? {
        let length = Int(try int32())
        if length == -1 { return nil }
        guard length >= 0 else { throw KafkaDecodingError(.invalid, "bytes length \(length)") }
        guard let value = buffer.readSlice(length: length) else {
            throw KafkaDecodingError(.truncated, "\(length) bytes with \(remaining) left")
        }
        return value
    }

    /// BYTES: as `nullableBytes`, but null is refused.
    mutating func bytes() throws(KafkaDecodingError) -> ByteBuffer {
        guard let value = try nullableBytes() else { throw KafkaDecodingError(.invalid, "null where bytes are required") }
        return value
    }

    /// ARRAY: an int32 count (-1 is null), then the elements. A count larger
    /// than the bytes left cannot be right (every element takes a byte at
    /// least), so it is refused before anything is allocated for it.
    mutating func nullableArray<T>(_ element: (inout KafkaReader) throws(KafkaDecodingError) -> T) throws(KafkaDecodingError)
        -> [T]?
    {
        let count = Int(try int32())
        if count == -1 { return nil }
        guard count >= 0, count <= remaining else {
            throw KafkaDecodingError(.invalid, "array of \(count) elements with \(remaining) bytes left")
        }
        var elements: [T] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try element(&self)) }
        return elements
    }

    /// ARRAY where null is read as empty (most request arrays).
    mutating func array<T>(_ element: (inout KafkaReader) throws(KafkaDecodingError) -> T) throws(KafkaDecodingError) -> [T] {
        try nullableArray(element) ?? []
    }

    /// Refuses bytes left over after the last field: a request that is longer
    /// than its version says was built for another version.
    func expectEnd(_ what: String) throws(KafkaDecodingError) {
        guard remaining == 0 else { throw KafkaDecodingError(.invalid, "\(remaining) bytes after the end of \(what)") }
    }
}
