import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Log {
    /// Written (and fsynced) by `close()`; removed by `open`. Its absence at
    /// open means the last run did not shut down cleanly.
    static let cleanShutdownMarker = ".clean-shutdown"
    /// Held with an exclusive `flock` by the process that has the log open.
    static let lockFileName = ".lock"
    /// The suffix (after the segment's 20-digit base offset and a dot) of a
    /// quarantine file: bytes moved out of that segment's store, by `repair`
    /// or by an open that found a lost write.
    static let quarantineSuffix = "damaged-"

    /// Creates a directory for logs (a data directory) and its missing
    /// parents, each new name made durable with an fsync of its parent, so
    /// that logs created in it survive a power loss. Does nothing to a
    /// directory that exists but sync its parent.
    /// - Throws: `LogStoreError` `.io` when a directory cannot be made or synced.
    public static func createDirectory(_ path: FilePath) throws {
        try FileSystem.createDirectory(path, creatingParents: true)
    }

    /// Opens the log in `directory`, creating the directory (not its parents)
    /// and a first segment when needed.
    ///
    /// After a clean shutdown the indexes are trusted (with cheap checks).
    /// After an unclean one the active segment's store is rescanned: a torn
    /// tail is cut off and its index rebuilt. Damage with good data after it
    /// is not cut: opening fails with a `.corruption` error naming the file,
    /// offset and position.
    /// - Parameters:
    ///   - directory: the log's directory.
    ///   - options: segment sizes and sync policy.
    ///   - logger: where recovery and failures are reported.
    /// - Throws: `LogStoreError` (`.unavailable` when another process has it open).
    public static func open(
        directory: FilePath, options: LogOptions = LogOptions(), logger: Logger = Logger(label: "logstore")
    ) throws -> Log {
        try options.validate()
        try FileSystem.createDirectory(directory)
        let lockFile = try OpenFile(path: directory.appending(lockFileName), options: [.create])
        if flock(lockFile.descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw LogStoreError(.unavailable, "log is open in another process", path: directory.string)
        }
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(".tmp") {
            // Left by an interrupted atomic replace: the old file is still whole.
            try FileSystem.remove(directory.appending(name))
        }
        try finishInterruptedCompaction(directory: directory, logger: logger)
        _ = try finishInterruptedTruncation(directory: directory, logger: logger)
        let names = try FileSystem.listDirectory(directory)
        let storeBases = Set(names.compactMap { Segment.baseOffset(fileName: $0, suffix: "store") })
        for name in names {
            guard let base = Segment.baseOffset(fileName: name, suffix: "index"), !storeBases.contains(base) else { continue }
            logger.warning("log.orphan_index_removed", metadata: ["log.file": "\(name)"])
            try FileSystem.remove(directory.appending(name))
        }
        let markerPath = directory.appending(cleanShutdownMarker)
        let clean = FileSystem.exists(markerPath)
        let bases = storeBases.sorted()
        if !clean && !bases.isEmpty {
            logger.info("log.recovering", metadata: ["log.directory": "\(directory)", "log.segments": "\(bases.count)"])
        }

        var sealed: [SegmentExtent] = []
        var active: SegmentExtent
        if let lastBase = bases.last {
            for base in bases.dropLast() {
                let extent = try openSegment(
                    directory: directory, baseOffset: base, expectedBase: sealed.last?.nextOffset, isActive: false,
                    clean: true, options: options, logger: logger)
                sealed.append(extent)
            }
            active = try openSegment(
                directory: directory, baseOffset: lastBase, expectedBase: sealed.last?.nextOffset, isActive: true,
                clean: clean, options: options, logger: logger)
        } else {
            let segment = try Segment.create(in: directory, baseOffset: 0, indexBytes: options.maxIndexBytes)
            try FileSystem.syncDirectory(directory)
            active = SegmentExtent(segment: segment, storeSize: 0, indexCount: 0, nextOffset: 0)
        }
        if clean {
            // From here on a crash must be seen as unclean.
            try FileSystem.remove(markerPath)
            try FileSystem.syncDirectory(directory)
        }
        let log = Log(
            directory: directory, options: options, logger: logger, lockFile: lockFile, sealed: sealed,
            active: active.segment, activeSize: active.storeSize, nextOffset: active.nextOffset)
        switch options.syncPolicy {
        case .interval(let milliseconds):
            log.syncThread = try startThread { log.runIntervalSync(milliseconds: milliseconds) }
        case .always, .never:
            break  // `.always` starts its syncer with the first async append
        }
        return log
    }

    /// Opens one segment and works out its extent. `isActive` segments come
    /// back with a writable, preallocated index.
    private static func openSegment(
        directory: FilePath, baseOffset: Int64, expectedBase: Int64?, isActive: Bool, clean: Bool, options: LogOptions,
        logger: Logger
    ) throws -> SegmentExtent {
        let storePath = Segment.storePath(in: directory, baseOffset: baseOffset)
        if let expectedBase, expectedBase != baseOffset {
            throw LogStoreError(
                .corruption, "segment starts at offset \(baseOffset) but the segment before it ends at \(expectedBase)",
                path: storePath.string, offset: expectedBase)
        }
        let store = try OpenFile(path: storePath, options: [])
        let storeSize = try store.size()
        let indexFile = try OpenFile(path: Segment.indexPath(in: directory, baseOffset: baseOffset), options: [.create])

        if clean, let trusted = try trustedIndex(store: store, storeSize: storeSize, indexFile: indexFile, baseOffset: baseOffset)
        {
            let segment = Segment(baseOffset: baseOffset, store: store, index: trusted.index)
            let extent = SegmentExtent(
                segment: segment, storeSize: storeSize, indexCount: trusted.index.count, nextOffset: trusted.nextOffset)
            guard isActive else { return extent }
            let writable = try segment.reopenedForWriting(indexCount: extent.indexCount, indexBytes: options.maxIndexBytes)
            return SegmentExtent(
                segment: writable, storeSize: storeSize, indexCount: extent.indexCount, nextOffset: extent.nextOffset)
        }

        // Rebuild the index from the store (DESIGN.md rule 1).
        var entries: [IndexEntry] = []
        let scan = try StoreScanner(file: store, fileSize: storeSize).scan(baseOffset: baseOffset) { position, header in
            entries.append(header.indexEntry(segmentBase: baseOffset, position: position))
        }
        var validEnd = storeSize
        if let damage = scan.damage {
            // After a clean shutdown nothing can be torn: damage at the end is damage too.
            guard isActive, !clean, damage.isCrashTail else {
                throw LogStoreError(
                    .corruption,
                    "damaged batch with good data after it (\(damage.problem)); `logd repair` moves the damage aside (try `--dry-run` first), or restore the segment from a replica",
                    path: storePath.string, offset: damage.expectedOffset, position: damage.position)
            }
            if damage.isLostWrite {
                // Never acknowledged (an fdatasync covers the whole file), but kept aside, not dropped.
                let quarantine = try quarantineLostWrite(
                    store: store, storeSize: storeSize, directory: directory, baseOffset: baseOffset, damage: damage)
                logger.warning(
                    "log.lost_write_tail_quarantined",
                    metadata: [
                        "log.file": "\(storePath)", "log.position": "\(damage.position)",
                        "log.bytes_moved": "\(storeSize - damage.position)", "log.quarantine": "\(quarantine)",
                    ])
            } else {
                logger.warning(
                    "log.torn_tail_truncated",
                    metadata: [
                        "log.file": "\(storePath)", "log.position": "\(damage.position)",
                        "log.bytes_dropped": "\(storeSize - damage.position)", "log.reason": "\(damage.problem)",
                    ])
            }
            try store.truncate(to: damage.position)
            validEnd = damage.position
        }
        if isActive && !clean {
            // What a crashed process wrote may still be only in the page cache:
            // make it durable before anyone reads it (a reader under `.always`
            // must never see a record a power cut could take back).
            try store.syncData()
        }
        try indexFile.truncate(to: 0)
        let index = try SegmentIndex(
            file: indexFile, count: 0,
            preallocateBytes: max(options.maxIndexBytes, (entries.count + 1) * SegmentIndex.entrySize))
        for entry in entries { index.append(entry) }
        var segment = Segment(baseOffset: baseOffset, store: store, index: index)
        if !isActive {
            try index.seal()
            segment = Segment(
                baseOffset: baseOffset, store: store,
                index: try SegmentIndex(file: indexFile, count: entries.count, preallocateBytes: nil))
        }
        logger.info(
            "log.index_rebuilt", metadata: ["log.file": "\(storePath)", "log.batches": "\(entries.count)"])
        return SegmentExtent(segment: segment, storeSize: validEnd, indexCount: entries.count, nextOffset: scan.nextOffset)
    }

    /// Copies the store's bytes from a lost write on (`StoreScanner.Damage.isLostWrite`)
    /// into a quarantine file, as `repair` does, durable before the store is cut.
    /// - Returns: the quarantine file's name.
    private static func quarantineLostWrite(
        store: OpenFile, storeSize: Int64, directory: FilePath, baseOffset: Int64, damage: StoreScanner.Damage
    ) throws -> String {
        let range = damage.position..<storeSize
        let target = try SegmentRepairPlan.quarantineTarget(
            directory: directory, baseOffset: baseOffset, firstLostOffset: damage.expectedOffset, store: store, range: range)
        if !target.isWritten { try SegmentRepairPlan.writeQuarantine(store, range: range, to: target.path) }
        return target.path.lastComponent?.string ?? target.path.string
    }

    /// The index as the file holds it, when cheap checks agree with the store:
    /// whole entries, no more entries than batches could fit, and the last
    /// entry naming the batch that ends exactly at the end of the store.
    static func trustedIndex(store: OpenFile, storeSize: Int64, indexFile: OpenFile, baseOffset: Int64) throws
        -> (index: SegmentIndex, nextOffset: Int64)?
    {
        let indexSize = try indexFile.size()
        guard indexSize % Int64(SegmentIndex.entrySize) == 0 else { return nil }
        let count = Int(indexSize / Int64(SegmentIndex.entrySize))
        guard Int64(count) * Int64(BatchLayout.headerSize) <= storeSize else { return nil }
        let index = try SegmentIndex(file: indexFile, count: count, preallocateBytes: nil)
        guard count > 0 else { return storeSize == 0 ? (index, baseOffset) : nil }
        let first = index.entry(0)
        let last = index.entry(count - 1)
        guard first.relativeOffset == 0, first.position == 0, Int(last.relativeOffset) >= count - 1,
            last.position >= Int64(count - 1) * Int64(BatchLayout.headerSize), last.position < storeSize
        else { return nil }
        // The last batch gives the segment's next offset: check its CRC, or a
        // damaged last offset delta would move where appends continue.
        let lastSize = storeSize - last.position
        guard lastSize <= Int64(BatchLayout.maxBatchSize) else { return nil }
        var batch = [UInt8](repeating: 0, count: Int(lastSize))
        let read = try batch.withUnsafeMutableBytes { try store.read(into: $0, at: last.position) }
        guard read == batch.count, case .success(let decoded) = batch.withUnsafeBytes({ BatchHeader.decodeAndVerify($0) }),
            decoded.baseOffset == baseOffset + Int64(last.relativeOffset), last.position + Int64(decoded.size) == storeSize
        else { return nil }
        return (index, decoded.nextOffset)
    }

    /// The interval syncer: every `milliseconds`, one group-commit round if
    /// anything is unsynced. Ends when the log closes.
    func runIntervalSync(milliseconds: Int) {
        writerLock.lock()
        defer { writerLock.unlock() }
        let interval = UInt64(milliseconds) * 1_000_000
        var deadline = monotonicNanos() + interval
        while !writer.closed {
            let now = monotonicNanos()
            if now < deadline {
                writerLock.wait(nanoseconds: deadline - now)
                continue
            }
            deadline = now + interval
            guard writer.failure == nil, !writer.syncInProgress, writer.durableSequence < writer.writtenSequence else { continue }
            do {
                try syncOnceLocked()
            } catch {
                logger.error("log.interval_sync_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
            }
        }
    }
}
