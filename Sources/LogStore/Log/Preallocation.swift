#if canImport(Glibc)
import Glibc
#endif

/// Blocks of the active store allocated ahead of its end (Linux `fallocate`
/// with `FALLOC_FL_KEEP_SIZE`). A write into blocks already allocated skips
/// ext4's delayed allocation, about a third of the kernel's CPU for
/// appending: 500 MB in 1 MiB writes cost 52-54 ms of CPU with 4 MiB
/// allocated ahead, 85-87 ms without. The file's size does not change, so
/// readers, recovery and the crash model see what they saw; the blocks past
/// the end are given back when the segment is sealed or the log closes (after
/// a crash, at its next seal).
enum Preallocation {
    typealias Fallocate = @convention(c) (Int32, Int32, Int64, Int64) -> Int32

    /// Allocated ahead of the end written, once the segment holds this much.
    static let aheadBytes: Int64 = 4 << 20
    /// A smaller segment gets as much ahead as it holds, at least this much:
    /// a log written little (one of many topics) takes at most its own size
    /// more on disk, or 64 KiB.
    static let minimumAheadBytes: Int64 = 64 << 10
    /// `FALLOC_FL_KEEP_SIZE`: allocate without changing the file's size.
    static let keepSize: Int32 = 1

    /// Glibc's `fallocate`; nil elsewhere (nothing is allocated ahead).
    static let fallocate = FileSystem.glibcFunction(named: "fallocate", as: Fallocate.self)
}

extension Log {
    /// Before a write of the active store up to `end`: once `end` passes what
    /// is allocated, allocates ahead of it as much as the store holds, from
    /// `Preallocation.minimumAheadBytes` up to `Preallocation.aheadBytes`
    /// (never past the segment's size limit). Best effort: a file system without
    /// `fallocate` ends the tries for this log; any other failure (a full
    /// disk) leaves the write to fail or not as it would have.
    func preallocateLocked(through end: Int64) {
        guard end > writer.preallocatedEnd, !writer.preallocationUnsupported, let fallocate = Preallocation.fallocate else {
            return
        }
        let start = max(writer.preallocatedEnd, writer.flushedSize)
        let ahead = min(Preallocation.aheadBytes, max(Preallocation.minimumAheadBytes, end))
        let target = max(end, min(end + ahead, options.maxSegmentBytes))
        if fallocate(writer.active.store.descriptor.rawValue, Preallocation.keepSize, start, target - start) == 0 {
            writer.preallocatedEnd = target
        } else if errno == EOPNOTSUPP || errno == ENOSYS {
            writer.preallocationUnsupported = true
        }
    }

    /// Gives back the blocks allocated past the end of the active store (it
    /// is being sealed, or the log closes): `ftruncate` to its own size, which
    /// changes neither its bytes nor its size.
    func releasePreallocationLocked() {
        guard writer.preallocatedEnd > 0 else { return }
        writer.preallocatedEnd = 0
        guard let size = try? writer.active.store.size() else { return }
        _ = ftruncate(writer.active.store.descriptor.rawValue, off_t(size))
    }
}
