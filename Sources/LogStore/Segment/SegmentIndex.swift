import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `.index` file of a segment: fixed-width entries (`IndexLayout`), one
/// per batch in the `.store` file, memory-mapped.
///
/// The index is a cache of the store (DESIGN.md rule 1): the active segment's
/// file is preallocated and may hold a zero-filled tail, so its entry count
/// lives here in memory, never inferred from the file after an unclean stop.
///
/// Thread-safety: the one writer appends entries under the log's writer lock;
/// readers read only entries below a count published to them after the
/// entries were written, so they never race with a write.
final class SegmentIndex: @unchecked Sendable {
    static let entrySize = IndexLayout.entrySize

    let file: OpenFile
    /// The mapped bytes; nil when the mapping would be empty.
    private var mapping: UnsafeMutableRawPointer?
    private var mappedBytes: Int
    /// Entries the mapping can hold.
    private(set) var capacity: Int
    /// Entries written (writer's view).
    private(set) var count: Int
    private(set) var writable: Bool
    /// True for `init(inMemoryFor:capacity:)`: `seal()` must not touch the file.
    private(set) var isInMemory = false

    /// Maps `file`; `count` entries are valid. When `preallocateBytes` is given,
    /// the file grows to that size and the mapping is writable.
    init(file: OpenFile, count: Int, preallocateBytes: Int?) throws {
        self.file = file
        self.count = count
        mapping = nil
        mappedBytes = 0
        capacity = 0
        writable = false
        if let preallocateBytes {
            try makeWritable(preallocateBytes: preallocateBytes)
        } else {
            try map(bytes: count * Self.entrySize, writable: false)
        }
    }

    /// An index in anonymous memory for `capacity` entries, named after
    /// `file` but never written to it: a read-only opener's index of a
    /// segment another process is still writing.
    init(inMemoryFor file: OpenFile, capacity: Int) throws {
        self.file = file
        count = 0
        mappedBytes = max(capacity, 1) * Self.entrySize
        let address = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw LogStoreError(.io, "cannot map memory for an index", path: file.path.string, underlying: Errno(rawValue: errno))
        }
        mapping = address
        self.capacity = max(capacity, 1)
        writable = true
        isInMemory = true
    }

    deinit {
        if let mapping { munmap(mapping, mappedBytes) }
    }

    private func map(bytes: Int, writable: Bool) throws {
        if let mapping { munmap(mapping, mappedBytes) }
        mapping = nil
        mappedBytes = 0
        capacity = 0
        self.writable = writable
        guard bytes > 0 else { return }
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        let address = mmap(nil, bytes, protection, MAP_SHARED, file.descriptor.rawValue, 0)
        guard let address, address != MAP_FAILED else {
            throw LogStoreError(.io, "mmap failed", path: file.path.string, underlying: Errno(rawValue: errno))
        }
        mapping = address
        mappedBytes = bytes
        capacity = bytes / Self.entrySize
        if writable { FileOperations.report(.mapped(file.descriptor, path: file.path)) }
    }

    /// Grows the file to `preallocateBytes` (sparse) and maps it writable. Only
    /// from `init`: a mapping readers may hold is never replaced; a segment made
    /// active again gets a new `SegmentIndex`.
    private func makeWritable(preallocateBytes: Int) throws {
        let bytes = max(preallocateBytes - preallocateBytes % Self.entrySize, (count + 1) * Self.entrySize)
        if try file.size() < Int64(bytes) { try file.truncate(to: Int64(bytes)) }
        try reserveBlocks(bytes: bytes)
        try map(bytes: bytes, writable: true)
    }

    /// Allocates the file's blocks up front. A store into a mapped page of a
    /// sparse file needs a block at that moment, and on a full disk the kernel
    /// can only answer with SIGBUS; allocated now, a full disk is an error here.
    private func reserveBlocks(bytes: Int) throws {
        #if os(Linux)
        let result = posix_fallocate(file.descriptor.rawValue, 0, off_t(bytes))
        // Some file systems cannot preallocate; they are left sparse.
        guard result != 0, result != EOPNOTSUPP, result != EINVAL else { return }
        throw LogStoreError(.io, "cannot allocate the index", path: file.path.string, underlying: Errno(rawValue: result))
        #endif
    }

    var isFull: Bool { count >= capacity }

    /// Entry `i` (which must be below the count the caller was given).
    @inline(__always)
    func entry(_ i: Int) -> IndexEntry {
        guard let mapping else { return IndexEntry(relativeOffset: 0, position: 0, maxTimestamp: 0) }
        return IndexEntry(loadingFrom: UnsafeRawPointer(mapping + i * Self.entrySize))
    }

    /// Appends the entry of a batch whose largest record timestamp is
    /// `batchMaxTimestamp`; the caller checked `isFull`.
    @inline(__always)
    func append(relativeOffset: UInt32, position: Int64, batchMaxTimestamp: Int64) {
        guard let mapping, writable, count < capacity else { return }
        let runningMax = count > 0 ? max(entry(count - 1).maxTimestamp, batchMaxTimestamp) : batchMaxTimestamp
        IndexEntry(relativeOffset: relativeOffset, position: position, maxTimestamp: runningMax)
            .store(to: mapping + count * Self.entrySize)
        count += 1
    }

    /// Appends `entry` as it is (rebuilding an index: its running maximum is
    /// recomputed, so a batch's own maximum is enough).
    func append(_ entry: IndexEntry) {
        append(relativeOffset: entry.relativeOffset, position: entry.position, batchMaxTimestamp: entry.maxTimestamp)
    }

    /// The first of the first `count` entries whose running maximum timestamp
    /// is at least `timestamp`: the first batch that can hold a record at or
    /// after that time.
    func search(timestamp: Int64, count: Int) -> Int? {
        var low = 0
        var high = count
        while low < high {
            let middle = (low + high) / 2
            if entry(middle).maxTimestamp >= timestamp { high = middle } else { low = middle + 1 }
        }
        return low < count ? low : nil
    }

    /// Forgets entries at and after `newCount` (truncation and rebuilds).
    func truncate(toCount newCount: Int) {
        count = min(count, newCount)
    }

    /// The last entry among the first `count` whose relative offset is at most
    /// `relativeOffset`: binary search, no scan.
    func search(relativeOffset: UInt32, count: Int) -> Int? {
        var low = 0
        var high = count - 1
        var found: Int?
        while low <= high {
            let middle = (low + high) / 2
            if entry(middle).relativeOffset <= relativeOffset {
                found = middle
                low = middle + 1
            } else {
                high = middle - 1
            }
        }
        return found
    }

    /// Makes the entries durable and cuts the file to exactly `count` entries,
    /// so that a clean reopen can trust its size.
    func seal() throws {
        if let mapping, writable, count > 0 {
            let bytes = (count * Self.entrySize + Int(getpagesize()) - 1) / Int(getpagesize()) * Int(getpagesize())
            if msync(mapping, min(bytes, mappedBytes), MS_SYNC) != 0 {
                throw LogStoreError(.io, "msync failed", path: file.path.string, underlying: Errno(rawValue: errno))
            }
        }
        try file.truncate(to: Int64(count * Self.entrySize))
        try file.syncData()
        writable = false
    }
}
