/// Byte offsets of an `.index` entry (docs/FORMAT.md). All fields are
/// little-endian; entry `i` starts at byte `entrySize * i`.
enum IndexLayout {
    /// `UInt32`: the batch's base offset minus the segment's base offset.
    static let relativeOffset = 0
    /// `Int64`: the batch's byte position in the store.
    static let position = 4
    /// `Int64`: the running maximum record timestamp (ms) of the segment up to this batch.
    static let maxTimestamp = 12
    static let entrySize = 20
}

/// One index entry: where a batch is, and the largest record timestamp of
/// the segment up to and including it.
struct IndexEntry: Sendable, Equatable {
    /// The batch's base offset minus the segment's base offset.
    var relativeOffset: UInt32
    /// Byte position of the batch in the store.
    var position: Int64
    /// The largest timestamp of any record in this batch or an earlier one of
    /// the segment: never decreases, so lookups by time can binary-search it.
    var maxTimestamp: Int64

    init(relativeOffset: UInt32, position: Int64, maxTimestamp: Int64) {
        self.relativeOffset = relativeOffset
        self.position = position
        self.maxTimestamp = maxTimestamp
    }

    /// The entry whose `IndexLayout.entrySize` bytes start at `base`.
    @inline(__always)
    init(loadingFrom base: UnsafeRawPointer) {
        relativeOffset = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: IndexLayout.relativeOffset, as: UInt32.self))
        position = Int64(littleEndian: base.loadUnaligned(fromByteOffset: IndexLayout.position, as: Int64.self))
        maxTimestamp = Int64(littleEndian: base.loadUnaligned(fromByteOffset: IndexLayout.maxTimestamp, as: Int64.self))
    }

    /// Writes the entry's `IndexLayout.entrySize` bytes at `base`.
    @inline(__always)
    func store(to base: UnsafeMutableRawPointer) {
        base.storeBytes(of: relativeOffset.littleEndian, toByteOffset: IndexLayout.relativeOffset, as: UInt32.self)
        base.storeBytes(of: position.littleEndian, toByteOffset: IndexLayout.position, as: Int64.self)
        base.storeBytes(of: maxTimestamp.littleEndian, toByteOffset: IndexLayout.maxTimestamp, as: Int64.self)
    }
}
