/// How the log's records are stored: batches, records and bytes, compressed
/// and not (`logd stat`).
public struct StorageStats: Sendable, Hashable {
    public var batches = 0
    /// Batches whose records section is compressed (any codec).
    public var compressedBatches = 0
    /// The compressed batches by codec name (`gzip`, `snappy`, `lz4`, `zstd`).
    public var compressedBatchesByCodec: [String: Int] = [:]
    /// Records in the batches (below `nextOffset - lowestOffset` once
    /// compaction removed some).
    public var records: Int64 = 0
    /// Bytes the batches take in the `.store` files.
    public var storedBytes: Int64 = 0
    /// Bytes the same batches would take uncompressed.
    public var rawBytes: Int64 = 0

    public init() {}
}

extension Log {
    /// Counts batches, records and stored versus uncompressed bytes. Reads
    /// each batch's header; a gzip batch's last four bytes too (the gzip
    /// trailer's uncompressed size); a snappy, lz4 or zstd batch whole, and
    /// inflates it, since their framing need not state the uncompressed size
    /// (a streaming producer's zstd or lz4 frame does not). Headers are
    /// checked for sanity, not CRC: `verify` does that.
    /// - Throws: `.corruption` for a header that does not parse or a
    ///   compressed batch that does not inflate, `.io`.
    public func storageStats() throws -> StorageStats {
        try Self.storageStats(of: snapshot(covering: nextOffset - 1).extents)
    }

    /// `storageStats()` of some segments; with `countingRawBytes` false,
    /// `rawBytes` stays 0 and no batch is read past its header.
    static func storageStats(of extents: [SegmentExtent], countingRawBytes: Bool = true) throws -> StorageStats {
        var stats = StorageStats()
        var header = [UInt8](repeating: 0, count: BatchLayout.headerSize)
        var trailer = [UInt8](repeating: 0, count: 4)
        let whole = WriteBuffer(capacity: 0)
        let inflated = WriteBuffer(capacity: 256)
        for extent in extents {
            let index = extent.segment.index
            let store = extent.segment.store
            for number in 0..<extent.indexCount {
                let position = index.entry(number).position
                let offset = extent.baseOffset + Int64(index.entry(number).relativeOffset)
                let read = try header.withUnsafeMutableBytes { try store.read(into: $0, at: position) }
                let decoded = header.withUnsafeBytes { BatchHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<read])) }
                guard case .success(let batch) = decoded else {
                    throw LogStoreError(
                        .corruption, "batch header does not parse", path: store.path.string, offset: offset, position: position)
                }
                stats.batches += 1
                stats.records += Int64(batch.recordCount)
                stats.storedBytes += Int64(batch.size)
                guard batch.codec != BatchCodec.none else {
                    stats.rawBytes += Int64(batch.size)
                    continue
                }
                stats.compressedBatches += 1
                stats.compressedBatchesByCodec[BatchCodec.name(batch.codec), default: 0] += 1
                guard countingRawBytes else { continue }
                if batch.codec == BatchCodec.gzip {
                    _ = try trailer.withUnsafeMutableBytes { try store.read(into: $0, at: position + Int64(batch.size) - 4) }
                    let size = trailer.withUnsafeBytes { Gzip.inflatedSizeHint(trailer: $0) }
                    stats.rawBytes += Int64(BatchLayout.headerSize) + Int64(size)
                    continue
                }
                whole.reserve(batch.size)
                let wholeBytes = UnsafeMutableRawBufferPointer(start: whole.pointer, count: batch.size)
                guard try store.read(into: wholeBytes, at: position) == batch.size else {
                    throw LogStoreError(
                        .corruption, "batch ends past the end of the store", path: store.path.string, offset: offset,
                        position: position)
                }
                let section = UnsafeRawBufferPointer(rebasing: wholeBytes[BatchLayout.headerSize...])
                do {
                    try BatchCodec.decompress(section, of: batch, into: inflated)
                } catch var error as LogStoreError {
                    error.path = store.path.string
                    error.position = position
                    throw error
                }
                stats.rawBytes += Int64(BatchLayout.headerSize + inflated.count)
            }
        }
        return stats
    }
}
