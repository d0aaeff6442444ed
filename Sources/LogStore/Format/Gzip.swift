import CZlib

/// gzip (RFC 1952) through the system zlib. Kafka's codec 1 stores a batch's
/// records section as one gzip member; the batch header stays uncompressed.
enum Gzip: BatchDecompressor {
    /// Inflates the gzip member `input` into `output` (the member must end
    /// exactly at the end of `input`).
    static func decompress(_ input: UnsafeRawBufferPointer, into output: WriteBuffer, limit: Int) throws(DecompressionFailure) {
        guard let inputBase = input.baseAddress, input.count >= 18 else {
            throw DecompressionFailure("gzip member of \(input.count) bytes is too short")
        }
        // The trailer's ISIZE (uncompressed size mod 2^32) sizes the first try; it is only a hint.
        output.startDecompressing(expected: Int(inflatedSizeHint(trailer: input)), limit: limit)
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DecompressionFailure("zlib inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        while true {
            try output.growDecompressing(limit: limit)
            stream.next_out = (output.pointer + output.count).assumingMemoryBound(to: Bytef.self)
            let room = output.available
            stream.avail_out = uInt(room)
            let result = CZlib.inflate(&stream, Z_FINISH)
            output.count += room - Int(stream.avail_out)
            switch result {
            case Z_STREAM_END:
                guard stream.avail_in == 0 else {
                    throw DecompressionFailure("\(stream.avail_in) bytes follow the end of the gzip member")
                }
                try output.finishDecompressing(limit: limit)
                return
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR with output room left means the input ended early.
                guard stream.avail_out == 0 else { throw .truncated }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(result)"
                throw DecompressionFailure("data is corrupt: \(message)")
            }
        }
    }

    /// The uncompressed size a gzip member's trailer states (`ISIZE`, its
    /// last four bytes, little-endian; modulo 2^32). `trailer` ends where the
    /// member ends and holds at least those four bytes.
    static func inflatedSizeHint(trailer: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(littleEndian: trailer.loadUnaligned(fromByteOffset: trailer.count - 4, as: UInt32.self))
    }
}

/// A reusable gzip compressor (zlib's deflate state costs about 256 KiB to set
/// up; a log keeps a few and resets them between batches).
///
/// @unchecked Sendable: used by one thread at a time, handed between threads
/// through the log's pool (a Mutex).
final class GzipDeflater: @unchecked Sendable {
    private let stream: UnsafeMutablePointer<z_stream>
    let level: Int

    /// - Parameter level: 1 (fastest) ... 9 (smallest).
    init(level: Int) throws {
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let result = deflateInit2_(
            stream, Int32(level), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard result == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw LogStoreError(.invalidArgument, "zlib cannot start gzip level \(level) (error \(result))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input` into `output` as one gzip member; nil when the
    /// result would not fit `output` (the caller then stores the bytes
    /// uncompressed: compression that does not shrink is not worth a reader's time).
    func compress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        guard let inputBase = input.baseAddress, let outputBase = output.baseAddress else { return nil }
        defer { deflateReset(stream) }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        stream.pointee.next_out = outputBase.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(output.count)
        guard deflate(stream, Z_FINISH) == Z_STREAM_END else { return nil }
        return output.count - Int(stream.pointee.avail_out)
    }
}
