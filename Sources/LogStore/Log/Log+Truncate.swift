import Logging
import SystemPackage

extension Log {
    /// Written (atomically) before a truncation changes any file, removed when
    /// it is done; an open that finds it finishes the truncation first.
    static let truncationMarker = ".truncation"

    /// What a truncation does, complete enough to redo it after a crash: cut
    /// the store of segment `segmentBase` at `cutPosition`, write `keptBatch`
    /// (the records of the cut batch that stay, re-encoded) there, and delete
    /// every later segment.
    ///
    /// Encoded little-endian: magic "LGTR" u32, segmentBase i64, cutPosition
    /// i64, nextOffset i64, keptBatch length u32, keptBatch, CRC-32C u32 of
    /// everything before it.
    struct TruncationPlan: Equatable {
        static let magic: UInt32 = 0x4C47_5452
        var segmentBase: Int64
        var cutPosition: Int64
        var nextOffset: Int64
        var keptBatch: [UInt8]

        func encoded() -> [UInt8] {
            var bytes: [UInt8] = []
            func put<T: FixedWidthInteger>(_ value: T) {
                withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
            }
            put(Self.magic)
            put(segmentBase)
            put(cutPosition)
            put(nextOffset)
            put(UInt32(keptBatch.count))
            bytes += keptBatch
            put(CRC32C.checksum(bytes))
            return bytes
        }

        init(segmentBase: Int64, cutPosition: Int64, nextOffset: Int64, keptBatch: [UInt8]) {
            self.segmentBase = segmentBase
            self.cutPosition = cutPosition
            self.nextOffset = nextOffset
            self.keptBatch = keptBatch
        }

        init?(_ bytes: [UInt8]) {
            let fixed = 32
            guard bytes.count >= fixed + 4 else { return nil }
            let fields = bytes.withUnsafeBytes { raw in
                (
                    UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)),
                    Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: Int64.self)),
                    Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: Int64.self)),
                    Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 20, as: Int64.self)),
                    Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 28, as: UInt32.self))),
                    UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self))
                )
            }
            guard fields.0 == Self.magic, fields.4 == bytes.count - fixed - 4,
                fields.5 == CRC32C.checksum(bytes[0..<(bytes.count - 4)])
            else { return nil }
            self.init(
                segmentBase: fields.1, cutPosition: fields.2, nextOffset: fields.3,
                keptBatch: Array(bytes[fixed..<(bytes.count - 4)]))
        }

        /// Cuts `store` and writes the kept batch; the same result however
        /// often it runs.
        func apply(to store: OpenFile) throws {
            try store.truncate(to: cutPosition)
            if !keptBatch.isEmpty { try keptBatch.withUnsafeBytes { try store.write($0, at: cutPosition) } }
            try store.syncData()
        }
    }

    /// Removes every record at and after `offset`, durably, so that the next
    /// append gets `offset`. A cut inside a batch rewrites the records before
    /// `offset` as a new batch. Crash-safe: the plan is recorded first, and an
    /// open after a crash midway finishes it. Used to drop a partly written
    /// unit of work (exactly-once ingestion).
    /// - Throws: `.offsetOutOfRange` when `offset` is below the oldest
    ///   retained offset or past the next one.
    public func truncate(from offset: Int64) throws {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        while writer.syncInProgress { writerLock.wait() }
        let lowest = writer.sealed.first?.baseOffset ?? writer.active.baseOffset
        guard offset >= lowest, offset <= writer.nextOffset else {
            throw outOfRange(offset, snapshot())
        }
        guard offset < writer.nextOffset else { return }
        do {
            try flushLocked()
            var extents = writer.sealed
            extents.append(
                SegmentExtent(
                    segment: writer.active, storeSize: writer.flushedSize, indexCount: writer.active.index.count,
                    nextOffset: writer.nextOffset))
            let keep = Self.segmentNumber(containing: offset, in: extents)
            let target = extents[keep]
            let entryNumber = try target.entryNumber(holding: offset)
            let entry = target.segment.index.entry(entryNumber)
            let batchBase = target.baseOffset + Int64(entry.relativeOffset)
            // The records of the cut batch below `offset`, re-batched with their own
            // offsets (a compacted batch may skip some) and covering up to `offset - 1`.
            var keptBatch: [UInt8] = []
            var keptEntries: [IndexEntry] = []
            if batchBase < offset {
                let builder = BatchBuilder(
                    baseOffset: batchBase, segmentBase: target.baseOffset, position: entry.position, targetRecordsBytes: Int.max)
                try forEachRecord(from: batchBase, maxBytes: 1) { record in
                    guard record.offset < offset else { return false }
                    builder.add(record)
                    return true
                }
                builder.close(lastOffset: offset - 1, emptyTimestamp: entry.maxTimestamp)
                keptBatch = Array(builder.output.bytes)
                keptEntries = builder.entries
            }
            let plan = TruncationPlan(
                segmentBase: target.baseOffset, cutPosition: entry.position, nextOffset: offset, keptBatch: keptBatch)
            try FileSystem.replaceAtomically(directory.appending(Self.truncationMarker), with: plan.encoded())

            // From here on a crash is finished by the next open.
            let writable =
                keep == extents.count - 1
                ? writer.active
                : try target.segment.reopenedForWriting(indexCount: target.indexCount, indexBytes: options.maxIndexBytes)
            writer.sealed = Array(writer.sealed.prefix(keep))
            writer.active = writable
            for extent in extents[(keep + 1)...].reversed() {
                // Newest first: at every step the remaining segments are a valid log.
                try FileSystem.remove(extent.segment.store.path)
                try FileSystem.remove(extent.segment.index.file.path)
            }
            try plan.apply(to: writable.store)
            writable.verified.withLock {
                $0.removeAll(from: entry.position)
                $0.insert(entry.position..<entry.position + Int64(keptBatch.count))  // encoded here, with its entries
            }
            writer.preallocatedEnd = 0  // the cut gave back what lay past it; the active store may be another
            writable.index.truncate(toCount: entryNumber)
            for kept in keptEntries { writable.index.append(kept) }
            writer.buffer.startPosition = entry.position + Int64(keptBatch.count)
            writer.nextOffset = offset
            writer.flushedNextOffset = offset
            try FileSystem.syncDirectory(directory)
            try FileSystem.remove(directory.appending(Self.truncationMarker))
            try FileSystem.syncDirectory(directory)
            writer.durableSequence = writer.writtenSequence
            resumeDurableWaitersLocked()
            writer.visibleActive = flushedExtentLocked()
            publishLocked()
            logger.info("log.truncated", metadata: ["log.directory": "\(directory)", "log.next_offset": "\(offset)"])
        } catch {
            throw fail(error)
        }
    }

    /// Finishes a truncation that a crash interrupted (before the segments
    /// are loaded by `open`); the index of the cut segment is rebuilt by the
    /// recovery that follows. Returns whether there was one.
    static func finishInterruptedTruncation(directory: FilePath, logger: Logger) throws -> Bool {
        let markerPath = directory.appending(truncationMarker)
        guard FileSystem.exists(markerPath) else { return false }
        guard let plan = TruncationPlan(try FileSystem.readFile(markerPath)) else {
            // It was renamed into place whole, so this is damage, not a torn write.
            throw LogStoreError(.corruption, "the record of an interrupted truncation is unreadable", path: markerPath.string)
        }
        let bases = try FileSystem.listDirectory(directory).compactMap { Segment.baseOffset(fileName: $0, suffix: "store") }
        for base in bases.sorted(by: >) where base > plan.segmentBase {
            try FileSystem.remove(Segment.storePath(in: directory, baseOffset: base))
            try FileSystem.remove(Segment.indexPath(in: directory, baseOffset: base))
        }
        let store = try OpenFile(path: Segment.storePath(in: directory, baseOffset: plan.segmentBase), options: [])
        try plan.apply(to: store)
        try FileSystem.remove(Segment.indexPath(in: directory, baseOffset: plan.segmentBase))
        try FileSystem.remove(directory.appending(cleanShutdownMarker))
        try FileSystem.syncDirectory(directory)
        try FileSystem.remove(markerPath)
        try FileSystem.syncDirectory(directory)
        logger.warning(
            "log.truncation_finished",
            metadata: ["log.directory": "\(directory)", "log.next_offset": "\(plan.nextOffset)"])
        return true
    }
}
