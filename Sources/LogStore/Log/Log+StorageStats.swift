/// How the log's records are stored: batches, records and bytes, compressed
/// and not (`logd stat`).
public struct StorageStats: Sendable, Hashable {
    public var batches = 0
    /// Batches whose records section is gzip-compressed.
    public var compressedBatches = 0
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
    /// Counts batches, records and stored versus uncompressed bytes, reading
    /// each batch's header (and a compressed batch's last four bytes: the
    /// gzip trailer's uncompressed size), not the data. Headers are checked
    /// for sanity, not CRC: `verify` does that.
    public func storageStats() throws -> StorageStats {
        try Self.storageStats(of: snapshot(covering: nextOffset - 1).extents)
    }

    /// `storageStats()` of some segments.
    static func storageStats(of extents: [SegmentExtent]) throws -> StorageStats {
        var stats = StorageStats()
        var header = [UInt8](repeating: 0, count: BatchLayout.headerSize)
        var trailer = [UInt8](repeating: 0, count: 4)
        for extent in extents {
            let index = extent.segment.index
            let store = extent.segment.store
            for number in 0..<extent.indexCount {
                let position = index.entry(number).position
                let read = try header.withUnsafeMutableBytes { try store.read(into: $0, at: position) }
                let decoded = header.withUnsafeBytes { BatchHeader.decode(UnsafeRawBufferPointer(rebasing: $0[0..<read])) }
                guard case .success(let batch) = decoded else {
                    throw LogStoreError(
                        .corruption, "batch header does not parse", path: store.path.string,
                        offset: extent.baseOffset + Int64(index.entry(number).relativeOffset), position: position)
                }
                stats.batches += 1
                stats.records += Int64(batch.recordCount)
                stats.storedBytes += Int64(batch.size)
                guard batch.codec == BatchCodec.gzip else {
                    stats.rawBytes += Int64(batch.size)
                    continue
                }
                stats.compressedBatches += 1
                _ = try trailer.withUnsafeMutableBytes { try store.read(into: $0, at: position + Int64(batch.size) - 4) }
                let inflated = trailer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
                stats.rawBytes += Int64(BatchLayout.headerSize) + Int64(inflated)
            }
        }
        return stats
    }
}
