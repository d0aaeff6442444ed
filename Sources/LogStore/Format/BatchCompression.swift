/// Compression codecs of the batch `attributes` bits 0-2 (Kafka's numbering).
enum BatchCodec {
    static let none = 0
    static let gzip = 1
    static let snappy = 2
    static let lz4 = 3
    static let zstd = 4
    static let mask: Int16 = 0x7

    private static let names = ["none", "gzip", "snappy", "lz4", "zstd"]

    static func name(_ codec: Int) -> String { names.indices.contains(codec) ? names[codec] : "unknown" }

    /// The decompressor of `codec`; nil for `none` and for codecs this build
    /// cannot read (5-7 are unassigned).
    static func decompressor(_ codec: Int) -> (any BatchDecompressor.Type)? {
        switch codec {
        case gzip: return Gzip.self
        case snappy: return Snappy.self
        case lz4: return LZ4.self
        case zstd: return Zstd.self
        default: return nil
        }
    }

    /// Whether this build reads batches of `codec`.
    static func isReadable(_ codec: Int) -> Bool { codec == none || decompressor(codec) != nil }

    /// Inflates the compressed records section `section` of the batch `header`
    /// into `output`, at most `BatchLayout.maxInflatedRecordsSize` bytes.
    /// - Throws: `.corruption` naming the codec and the batch's base offset.
    static func decompress(_ section: UnsafeRawBufferPointer, of header: BatchHeader, into output: WriteBuffer) throws {
        guard let decompressor = decompressor(header.codec) else {
            throw LogStoreError(
                .corruption,
                "batch uses compression codec \(header.codec) (\(name(header.codec))), which this build cannot read",
                offset: header.baseOffset)
        }
        do {
            try decompressor.decompress(section, into: output, limit: BatchLayout.maxInflatedRecordsSize)
        } catch {
            throw LogStoreError(
                .corruption, "\(name(header.codec))-compressed batch does not decompress: \(error)", offset: header.baseOffset)
        }
    }
}

extension BatchHeader {
    /// The compression codec of the records section.
    var codec: Int { Int(attributes & BatchCodec.mask) }
}

/// How appended batches are compressed (`compression.type` in a log's config).
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    /// Records are stored as they are.
    case none
    /// The records section of each batch is one gzip member (Kafka codec 1),
    /// through the system zlib. `level`: 1 (fastest) ... 9 (smallest).
    case gzip(level: Int)

    /// zlib level 1: on CDC JSON it keeps most of level 6's ratio at several times its speed.
    public static let defaultGzipLevel = 1

    public var description: String {
        switch self {
        case .none: return "none"
        case .gzip(let level): return "gzip(level \(level))"
        }
    }
}

enum BatchCompressor {
    /// Writes the uncompressed batch `batch` (header, records, any CRC) to
    /// `output` as a gzip batch: the same header with codec 1, the records
    /// section compressed, length and CRC-32C recomputed (the CRC covers the
    /// compressed bytes). `output` must hold `batch.count` bytes. Returns the
    /// new size, or nil when compression would not save at least 1/32 of the
    /// records section (not worth a reader's time to decompress).
    static func gzip(_ batch: UnsafeRawBufferPointer, deflater: GzipDeflater, into output: UnsafeMutableRawPointer) -> Int? {
        let header = BatchLayout.headerSize
        guard batch.count > header + 18, let base = batch.baseAddress else { return nil }
        let section = batch.count - header
        let room = UnsafeMutableRawBufferPointer(start: output + header, count: section - section / 32 - 1)
        guard let compressed = deflater.compress(UnsafeRawBufferPointer(rebasing: batch[header...]), into: room) else {
            return nil
        }
        output.copyMemory(from: base, byteCount: header)
        let size = header + compressed
        let attributes = batch.loadBigEndian(at: BatchLayout.attributes, as: Int16.self)
        output.storeBigEndian(Int32(size - BatchLayout.logOverhead), at: BatchLayout.batchLength)
        output.storeBigEndian((attributes & ~BatchCodec.mask) | Int16(BatchCodec.gzip), at: BatchLayout.attributes)
        let crc = CRC32C.checksum(
            UnsafeRawBufferPointer(start: output + BatchLayout.attributes, count: size - BatchLayout.attributes))
        output.storeBigEndian(crc, at: BatchLayout.crc)
        return size
    }
}
