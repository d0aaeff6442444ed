#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Headers encoded once, to put on many records without encoding them again
/// (the same `--header`s on every line `logd append` reads).
public struct EncodedRecordHeaders: Sendable, Hashable {
    /// The count varint, then each header's key and value, as a record stores them.
    let bytes: [UInt8]

    /// No headers.
    public static let none = EncodedRecordHeaders([])

    public init(_ headers: [RecordHeader]) {
        let size = BatchEncoder.headersSize(headers)
        bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            guard let base = buffer.baseAddress else { return }
            BatchEncoder.writeHeaders(headers, to: UnsafeMutableRawPointer(base), at: &count)
        }
    }
}

/// A record's headers encoded as they are added, into memory kept between
/// records: for headers whose values change from record to record (an
/// ordinal), where `EncodedRecordHeaders` would be made anew for each.
public struct RecordHeadersEncoder {
    /// Room for the count's varint (at most 5 bytes for an `Int32`), then the headers.
    private var storage = [UInt8](repeating: 0, count: 5)
    public private(set) var count = 0

    public init() {}

    /// Forgets the headers added, keeping the memory.
    public mutating func removeAll() {
        storage.removeSubrange(5...)
        count = 0
    }

    /// Adds a header: `key`'s bytes (UTF-8) and `value` (nil for a null value).
    public mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
        appendVarint(key.count)
        storage.append(contentsOf: key)
        if let value {
            appendVarint(value.count)
            storage.append(contentsOf: value)
        } else {
            appendVarint(-1)
        }
        count += 1
    }

    private mutating func appendVarint(_ value: Int) {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            var length = 0
            Varint.write(Int64(value), to: raw.baseAddress!, at: &length)
            storage.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<length]))
        }
    }

    /// The encoded headers as a record stores them: the count, then each header.
    mutating func withEncoded<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let countSize = Varint.size(Int64(count))
        return try storage.withUnsafeMutableBytes { raw in
            var index = 5 - countSize
            Varint.write(Int64(count), to: raw.baseAddress!, at: &index)
            return try body(UnsafeRawBufferPointer(rebasing: raw[(5 - countSize)...]))
        }
    }
}

/// A batch of records encoded in place as they are added, appended as one
/// batch with `Log.append(_: RecordBatchBuffer)`: the way to append records
/// that are already in memory somewhere (lines of a file, a network buffer)
/// without making a `Record`, or any array, per record. Keys and values are
/// copied straight into the batch's bytes, which are what the store gets.
///
/// Reusable: a successful append empties it and keeps its memory. Not
/// thread-safe: one thread fills and appends it at a time.
///
/// ```swift
/// let batch = RecordBatchBuffer()
/// try line.withUnsafeBytes { try batch.append(key: nil, value: $0) }
/// let offsets = try log.append(batch)
/// ```
public final class RecordBatchBuffer {
    /// Header room, then the records.
    let buffer: WriteBuffer
    /// Records added since the batch was last emptied.
    public private(set) var count = 0
    /// Timestamp of records added without one: the time of the batch's first record.
    private var now: Int64 = 0
    private(set) var baseTimestamp: Int64 = 0
    private(set) var maxTimestamp: Int64 = 0

    /// - Parameter capacity: bytes reserved up front; the buffer grows as records need.
    public init(capacity: Int = 64 << 10) {
        buffer = WriteBuffer(capacity: max(capacity, BatchLayout.headerSize + 64))
        buffer.count = BatchLayout.headerSize
    }

    /// The bytes the batch takes so far (header included): appended, it
    /// takes this much of the store (uncompressed). At most `Log.maxBatchBytes`.
    public var byteCount: Int { buffer.count }

    public var isEmpty: Bool { count == 0 }

    /// Adds a record, copying `key` and `value` into the batch.
    ///
    /// - Parameters:
    ///   - key: the key's bytes; nil for no key.
    ///   - value: the value's bytes; nil for a null value (tombstone).
    ///   - headers: the record's headers, encoded once with `EncodedRecordHeaders`.
    ///   - timestamp: milliseconds since the epoch; nil for the time the batch's first record was added.
    /// - Throws: `LogStoreError` `.invalidArgument` when the record would take
    ///   the batch past `Log.maxBatchBytes` or past the most records a batch
    ///   holds, or when its timestamp is too far from the first record's for
    ///   the batch's 64-bit deltas; the batch is then as it was.
    public func append(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: EncodedRecordHeaders = .none,
        timestamp: Int64? = nil
    ) throws {
        try headers.bytes.withUnsafeBytes { try append(key: key, value: value, encodedHeaders: $0, timestamp: timestamp) }
    }

    /// Adds a record with the headers `headers` encoded (see
    /// `append(key:value:headers:timestamp:)`); `inout` only so that the
    /// headers' count is written in place, without a copy.
    public func append(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: inout RecordHeadersEncoder,
        timestamp: Int64? = nil
    ) throws {
        try headers.withEncoded { try append(key: key, value: value, encodedHeaders: $0, timestamp: timestamp) }
    }

    private func append(
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, encodedHeaders: UnsafeRawBufferPointer, timestamp: Int64?
    ) throws {
        if count == 0 {
            now = currentTimeMillis()
            baseTimestamp = timestamp ?? now
            maxTimestamp = baseTimestamp
        }
        let recordTimestamp = timestamp ?? now
        let (timestampDelta, overflow) = recordTimestamp.subtractingReportingOverflow(baseTimestamp)
        if overflow {
            throw LogStoreError(
                .invalidArgument, "record timestamps \(baseTimestamp) and \(recordTimestamp) are too far apart for one batch")
        }
        try encodeRecord(
            number: count, timestampDelta: timestampDelta, key: key, value: value, encodedHeaders: encodedHeaders)
        if recordTimestamp > maxTimestamp { maxTimestamp = recordTimestamp }
        count += 1
    }

    /// Encodes record `number` of the batch (its offset delta) after the
    /// checks every added record passes: the count of a batch, and
    /// `BatchLayout.maxBatchSize` with it.
    @inline(__always)
    private func encodeRecord(
        number: Int, timestampDelta: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        encodedHeaders: UnsafeRawBufferPointer
    ) throws {
        guard number < Int(Int32.max) - 1 else {
            throw LogStoreError(.invalidArgument, "a batch holds at most \(Int32.max - 1) records")
        }
        let offsetDelta = Int64(number)
        let body = BatchEncoder.recordBodySize(
            timestampDelta: timestampDelta, offsetDelta: offsetDelta, keyCount: key?.count, valueCount: value?.count,
            encodedHeadersCount: encodedHeaders.count)
        let size = buffer.count + Varint.size(Int64(body)) + body
        guard size <= BatchLayout.maxBatchSize else {
            throw LogStoreError(
                .invalidArgument,
                "a record of \(body) bytes takes the batch of \(number) records to \(size) bytes, "
                    + "more than the limit of \(BatchLayout.maxBatchSize)")
        }
        BatchEncoder.appendRecord(
            to: buffer, timestampDelta: timestampDelta, offsetDelta: offsetDelta, key: key, value: value,
            encodedHeaders: encodedHeaders)
    }

    /// Adds a record per line of `text` ("\n"-separated; a last piece
    /// without one is a line too, unless empty): no key, the line as the
    /// value (an empty one null under `emptyAsNull`), `encodedHeaders` as the
    /// headers, the batch's time. The lines of `LineRecordFormat` without
    /// keys, in one loop: what `append(key:value:headers:timestamp:)` per line
    /// does (the same `BatchEncoder.appendRecord`), without its per-record
    /// closure and checks of a timestamp.
    ///
    /// Stops before a line whose record would take the batch past `limit`
    /// bytes, counting `encodedHeaders.count + 32` bytes for each record's
    /// framing (as the per-line path does); a batch with no record yet takes
    /// its first line whatever `limit` says.
    /// - Returns: the bytes of `text` used: whole lines, with their newlines.
    /// - Throws: `LogStoreError` `.invalidArgument` as `append` does (a line
    ///   past `Log.maxBatchBytes`, too many records); the lines before stay added.
    func appendLines(
        _ text: UnsafeRawBufferPointer, encodedHeaders: UnsafeRawBufferPointer, emptyAsNull: Bool, limit: Int
    ) throws -> Int {
        guard let base = text.baseAddress else { return 0 }
        if count == 0 {
            now = currentTimeMillis()
            baseTimestamp = now
            maxTimestamp = now
        }
        let framing = encodedHeaders.count + 32
        var records = count
        var start = 0
        defer { count = records }
        while start < text.count {
            let lineEnd =
                memchr(base + start, Int32(UInt8(ascii: "\n")), text.count - start).map { UnsafeRawPointer($0) - base }
                ?? text.count
            let line = UnsafeRawBufferPointer(start: base + start, count: lineEnd - start)
            if records > 0, buffer.count + line.count + framing > limit { break }
            try encodeRecord(
                number: records, timestampDelta: 0, key: nil, value: emptyAsNull && line.isEmpty ? nil : line,
                encodedHeaders: encodedHeaders)
            records += 1
            start = min(lineEnd + 1, text.count)
        }
        return start
    }

    /// Forgets the records added, keeping the memory.
    public func removeAll() {
        count = 0
        buffer.count = BatchLayout.headerSize
    }

    /// Fills in the header (base offset 0: the log stores the real one, outside
    /// the CRC's range) and the CRC-32C; returns the finished batch.
    func finish() -> UnsafeMutableRawBufferPointer {
        BatchEncoder.writeHeader(
            to: buffer.pointer, baseOffset: 0, size: buffer.count, lastOffsetDelta: Int32(count - 1),
            baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp, recordCount: Int32(count))
        return UnsafeMutableRawBufferPointer(start: buffer.pointer, count: buffer.count)
    }
}
