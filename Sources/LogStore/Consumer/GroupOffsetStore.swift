import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The committed offset of one consumer group, in `<log>/groups/<group>.offset`.
///
/// Two 4 KiB slots, written alternately, each `[magic "LGOF" u32][sequence u64]
/// [offset i64][crc32c u32 of the 20 bytes before]` then the commit's metadata
/// `[length u32][crc32c u32 of bytes 0..<28 and the metadata][metadata]`
/// (little-endian; docs/FORMAT.md). A commit overwrites the older slot and
/// `fdatasync`s: one sync, no rename, and a write torn by a crash only ever
/// damages the slot being written, so the other still holds the previous
/// commit (the scheme of LMDB's meta pages). The file is `flock`ed while a
/// consumer of the group is alive.
final class GroupOffsetStore: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `lock`.
    static let slotSize = 4096
    /// The offset's part of a slot, all that files of logd before commit metadata hold.
    static let offsetBytes = 24
    /// The offset's part and the metadata's header.
    static let headerBytes = 32
    /// The longest commit metadata a slot holds (Kafka's `offset.metadata.max.bytes` is 4096).
    static let maxMetadataBytes = slotSize - headerBytes
    static let magic: UInt32 = 0x4C47_4F46  // "LGOF"

    let path: FilePath
    private let file: OpenFile
    private let lock = ConditionLock()
    private var sequence: UInt64
    private var committed: CommittedOffset?
    private let background = BackgroundSync()

    /// Opens (creating when missing) the offsets file of `group` in `directory`.
    /// - Parameter exclusive: take the group's lock; fails with `.unavailable`
    ///   when another consumer of the group holds it.
    init(directory: FilePath, group: String, exclusive: Bool) throws {
        try FileSystem.createDirectory(directory)
        path = directory.appending(group + ".offset")
        let existed = FileSystem.exists(path)
        file = try OpenFile(path: path, options: [.create])
        if !existed {
            // The new name must survive a crash like any committed offset.
            try FileSystem.syncDirectory(directory)
            try FileSystem.syncDirectory(directory.removingLastComponent())
        }
        if exclusive, flock(file.descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw LogStoreError(.unavailable, "consumer group '\(group)' is in use by another consumer", path: path.string)
        }
        var best: (sequence: UInt64, committed: CommittedOffset)?
        for slot in 0..<2 {
            guard let value = try Self.readSlot(file, slot) else { continue }
            if best == nil || value.sequence > (best?.sequence ?? 0) { best = value }
        }
        sequence = best?.sequence ?? 0
        committed = best?.committed
    }

    private static func readSlot(_ file: OpenFile, _ slot: Int) throws -> (sequence: UInt64, committed: CommittedOffset)? {
        var bytes = [UInt8](repeating: 0, count: slotSize)
        let read = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: Int64(slot * slotSize)) }
        guard read >= offsetBytes else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)) == magic else { return nil }
            let crc = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
            guard crc == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<20])) else { return nil }
            let sequence = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
            let offset = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: Int64.self))
            // The metadata part: all zero in files written before it existed (no metadata).
            guard read >= headerBytes else { return (sequence, CommittedOffset(offset: offset)) }
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt32.self)))
            let metadataCRC = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
            if length == 0 && metadataCRC == 0 { return (sequence, CommittedOffset(offset: offset)) }
            guard length <= maxMetadataBytes, read >= headerBytes + length,
                metadataCRC == metadataChecksum(raw, length: length)
            else { return nil }  // torn: the other slot holds the previous commit
            let metadata = Array(raw[headerBytes..<headerBytes + length])
            return (sequence, CommittedOffset(offset: offset, metadata: metadata))
        }
    }

    /// CRC-32C of the slot's bytes 0..<28 and its `length` bytes of metadata: a
    /// metadata part left from an older commit never passes for this one's.
    private static func metadataChecksum(_ slot: UnsafeRawBufferPointer, length: Int) -> UInt32 {
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[0..<28]))
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[headerBytes..<headerBytes + length]), extending: crc)
    }

    /// The last committed offset and its metadata; nil when the group never committed.
    var committedOffset: CommittedOffset? { lock.withLock { committed } }

    /// Stores `offset` as the group's next offset to read. With `durably`, it
    /// returns once the offset is on stable storage. Without, the fdatasync
    /// runs on a background thread while the caller goes on; the next commit
    /// waits for it first, so at most one commit is ever not yet durable and
    /// the slot it overwrites always holds a durable one.
    /// - Throws: `.invalidArgument` for metadata over `maxMetadataBytes`.
    func commit(_ offset: Int64, metadata: [UInt8] = [], durably: Bool = true) throws {
        guard metadata.count <= Self.maxMetadataBytes else {
            throw LogStoreError(
                .invalidArgument,
                "commit metadata of \(metadata.count) bytes is over the \(Self.maxMetadataBytes) bytes a commit holds",
                path: path.string)
        }
        try lock.withLock {
            while background.syncing { lock.wait() }
            if let failure = background.failure {
                throw LogStoreError(.io, "an earlier commit failed to sync", path: path.string, underlying: failure)
            }
            let next = sequence + 1
            var bytes = [UInt8](repeating: 0, count: Self.headerBytes + metadata.count)
            bytes.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: Self.magic.littleEndian, as: UInt32.self)
                raw.storeBytes(of: next.littleEndian, toByteOffset: 4, as: UInt64.self)
                raw.storeBytes(of: offset.littleEndian, toByteOffset: 12, as: Int64.self)
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0..<20]))
                raw.storeBytes(of: crc.littleEndian, toByteOffset: 20, as: UInt32.self)
                raw.storeBytes(of: UInt32(metadata.count).littleEndian, toByteOffset: 24, as: UInt32.self)
                UnsafeMutableRawBufferPointer(rebasing: raw[Self.headerBytes...]).copyBytes(from: metadata)
                let metadataCRC = Self.metadataChecksum(UnsafeRawBufferPointer(raw), length: metadata.count)
                raw.storeBytes(of: metadataCRC.littleEndian, toByteOffset: 28, as: UInt32.self)
            }
            try bytes.withUnsafeBytes { try file.write($0, at: Int64(Int(next % 2) * Self.slotSize)) }
            sequence = next
            committed = CommittedOffset(offset: offset, metadata: metadata)
            if durably {
                try file.syncData()
            } else {
                if background.thread == nil {
                    background.thread = try startThread { [file, lock, background] in
                        Self.runBackgroundSync(file: file, lock: lock, state: background)
                    }
                }
                background.syncing = true
                lock.broadcast()
            }
        }
    }

    /// Waits until every commit so far is durable.
    func waitUntilDurable() throws {
        try lock.withLock {
            while background.syncing { lock.wait() }
            if let failure = background.failure {
                throw LogStoreError(.io, "an earlier commit failed to sync", path: path.string, underlying: failure)
            }
        }
    }

    deinit {
        lock.withLock {
            background.stopping = true
            lock.broadcast()
        }
        if let thread = background.thread { pthread_join(thread, nil) }
    }

    /// The state the background syncer shares with commits (guarded by `lock`).
    final class BackgroundSync: @unchecked Sendable {
        var thread: pthread_t?
        var syncing = false
        var stopping = false
        var failure: (any Error)?
    }

    private static func runBackgroundSync(file: OpenFile, lock: ConditionLock, state: BackgroundSync) {
        lock.lock()
        defer { lock.unlock() }
        while true {
            while !state.syncing && !state.stopping { lock.wait() }
            if state.syncing {
                lock.unlock()
                let result = Result { try file.syncData() }
                lock.lock()
                if case .failure(let error) = result { state.failure = error }
                state.syncing = false
                lock.broadcast()
            } else {
                return
            }
        }
    }

    /// The groups with an offsets file in `directory`, sorted.
    static func groups(in directory: FilePath) throws -> [String] {
        guard FileSystem.exists(directory) else { return [] }
        return try FileSystem.listDirectory(directory).compactMap { name in
            name.hasSuffix(".offset") ? String(name.dropLast(".offset".count)) : nil
        }.sorted()
    }
}
