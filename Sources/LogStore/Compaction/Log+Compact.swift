import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `Log.compact` did.
public struct CompactionReport: Sendable, Hashable {
    /// Sealed segments looked at, and those rewritten.
    public var segments = 0
    public var segmentsRewritten = 0
    /// Key-map passes: one unless the sealed segments hold more keys than the map.
    public var passes = 0
    /// Records and batch bytes in the sealed segments, before and after.
    public var recordsBefore: Int64 = 0
    public var recordsAfter: Int64 = 0
    public var bytesBefore: Int64 = 0
    public var bytesAfter: Int64 = 0
    /// Tombstones dropped because they were older than `delete.retention.ms`.
    public var tombstonesRemoved: Int64 = 0
    /// Seconds spent filling the key map (reading keys), and cleaning
    /// (reading, rewriting, syncing and swapping segments), over all passes.
    public var keyMapSeconds: Double = 0
    public var cleanSeconds: Double = 0

    public init() {}
}

extension Log {
    /// Suffix of a segment file being written by a compaction (deleted by an open that finds it).
    static let cleanedSuffix = ".cleaned"
    /// Suffix of a compacted store that replaces the segment's store: an
    /// open that finds it completes the swap.
    static let swapSuffix = ".swap"
    /// Compacted batches close once their records take this much (before compression).
    static let compactedBatchBytes = 128 << 10

    /// Compacts the sealed segments (never the active one): keeps the latest
    /// record of each key, drops tombstones (null values) whose timestamp is
    /// older than `options.deleteRetentionMilliseconds`, keeps records without
    /// a key. Offsets do not change: a removed offset reads as the next record.
    ///
    /// Memory is bounded by `keyMapCapacity` (33 bytes a key): a key map
    /// records each key's latest offset from the oldest sealed offset on until
    /// it is full, marking each offset a later record of its key supersedes
    /// (one bit an offset, up to 8 offsets a key of capacity); the segments up
    /// to where it filled are rewritten; the next pass continues from there.
    /// Each rewritten segment goes to `<base>.store.cleaned` and
    /// `.index.cleaned` (fsynced), then the store is renamed to `.store.swap` (directory fsynced: the swap is decided), the
    /// old index deleted, the store and then the index renamed into place
    /// (directory fsynced). An open finishes a decided swap and deletes
    /// undecided `.cleaned` files; a missing index is rebuilt.
    /// Appends and reads go on meanwhile; readers keep the files they opened.
    /// - Parameters:
    ///   - now: the time tombstone retention is measured from (default: now).
    ///   - keyMapCapacity: keys one pass can hold.
    /// - Throws: `.corruption` for damage in a sealed segment (nothing is
    ///   changed then), `.io`, `.unavailable` when the log is closed or read-only.
    @discardableResult
    public func compact(now: Int64? = nil, keyMapCapacity: Int = 1 << 20) throws -> CompactionReport {
        let (limit, overflow) = keyMapCapacity.multipliedReportingOverflow(by: 8)
        return try compact(now: now, keyMapCapacity: keyMapCapacity, supersededLimit: overflow ? Int.max : limit)
    }

    /// `compact(now:keyMapCapacity:)` marking superseded offsets for the first
    /// `supersededLimit` offsets of a pass (tests set it to 0 or a few, so
    /// that the clean pass looks keys up in the key map instead).
    func compact(now: Int64?, keyMapCapacity: Int, supersededLimit: Int) throws -> CompactionReport {
        guard keyMapCapacity > 0 else {
            throw LogStoreError(.invalidArgument, "keyMapCapacity must be positive, got \(keyMapCapacity)")
        }
        return try compactionLock.withLock { _ in
            let now = now ?? currentTimeMillis()
            let (horizon, overflow) = now.subtractingReportingOverflow(options.deleteRetentionMilliseconds)
            var sealed = try writerLock.withLock {
                try checkWritableLocked()
                return writer.sealed
            }
            var report = CompactionReport()
            report.segments = sealed.count
            let before = try Self.storageStats(of: sealed, countingRawBytes: false)
            report.recordsBefore = before.records
            report.bytesBefore = before.storedBytes
            guard let first = sealed.first, let last = sealed.last else { return report }
            let map = KeyOffsetMap(capacity: keyMapCapacity)
            var superseded = SupersededOffsets(start: first.baseOffset, limit: supersededLimit)
            var rewritten = Set<Int64>()
            var mapStart = first.baseOffset
            while mapStart < last.nextOffset {
                let fillStart = monotonicNanos()
                map.clear()
                superseded.reset(start: mapStart)
                let mapEnd = try fillKeyMap(map, superseded: &superseded, from: mapStart, extents: sealed)
                let cleanStart = monotonicNanos()
                report.keyMapSeconds += Double(cleanStart - fillStart) / 1e9
                defer { report.cleanSeconds += Double(monotonicNanos() - cleanStart) / 1e9 }
                report.passes += 1
                for number in sealed.indices where sealed[number].baseOffset < mapEnd {
                    if isClosedForCompaction() {
                        throw LogStoreError(.unavailable, "log closed during compaction", path: directory.string)
                    }
                    let rule = KeepRule(
                        map: map, superseded: superseded, mapEnd: mapEnd, tombstoneHorizon: overflow ? Int64.min : horizon)
                    guard let cleaned = try clean(sealed[number], rule: rule, report: &report) else { continue }
                    sealed[number] = cleaned
                    rewritten.insert(cleaned.baseOffset)
                }
                mapStart = mapEnd
            }
            report.segmentsRewritten = rewritten.count
            let after = try Self.storageStats(of: sealed, countingRawBytes: false)
            report.recordsAfter = after.records
            report.bytesAfter = after.storedBytes
            logger.info(
                "log.compacted",
                metadata: [
                    "log.directory": "\(directory)", "log.segments_rewritten": "\(report.segmentsRewritten)",
                    "log.records_before": "\(report.recordsBefore)", "log.records_after": "\(report.recordsAfter)",
                    "log.passes": "\(report.passes)",
                ])
            return report
        }
    }

    /// Which records a pass keeps.
    struct KeepRule {
        /// Each key's latest offset in `[pass start, mapEnd)`.
        let map: KeyOffsetMap
        /// The offsets of the pass whose key a later record has.
        let superseded: SupersededOffsets
        let mapEnd: Int64
        let tombstoneHorizon: Int64

        /// Below `mapEnd`, a keyed record goes when a later record has its key,
        /// or when it is a tombstone older than the horizon: every older record
        /// of its key is below it, so this pass removes them too (or an earlier
        /// pass did). From `mapEnd` on, everything stays for the next pass.
        @inline(__always)
        func keeps(_ record: RecordView, tombstonesRemoved: inout Int64) -> Bool {
            guard let key = record.key, record.offset < mapEnd else { return true }
            // The key-map pass already decided the records it covered: no second hash, no lookup.
            if superseded.contains(record.offset) ?? isBelowLatest(record.offset, key: key) { return false }
            if record.value == nil && record.timestamp < tombstoneHorizon {
                tombstonesRemoved += 1
                return false
            }
            return true
        }

        @inline(never)
        private func isBelowLatest(_ offset: Int64, key: UnsafeRawBufferPointer) -> Bool {
            guard let latest = map.offset(for: KeyHash(key)) else { return false }
            return offset < latest
        }
    }

    /// Records each key's latest offset from `start` on until the map is full,
    /// and marks in `superseded` each offset a later record of its key replaced.
    /// - Returns: the offset of the first record whose key did not fit, or the
    ///   end of the sealed segments.
    private func fillKeyMap(
        _ map: KeyOffsetMap, superseded: inout SupersededOffsets, from start: Int64, extents: [SegmentExtent]
    ) throws -> Int64 {
        // A batch's keys are hashed and their slots prefetched a batch before they are put, so that
        // the misses of a table far larger than the caches overlap instead of stalling one by one.
        var hashed: [(hash: KeyHash, offset: Int64)] = []
        var prefetched: [(hash: KeyHash, offset: Int64)] = []
        /// Puts `entries`; the offset of the first whose key did not fit.
        func put(_ entries: [(hash: KeyHash, offset: Int64)]) -> Int64? {
            for (hash, offset) in entries {
                switch map.put(hash, offset: offset) {
                case .added: continue
                case .replaced(let previous): superseded.insert(previous)
                case .full: return offset
                }
            }
            return nil
        }
        for extent in extents where extent.nextOffset > start {
            var stop: Int64?
            try forEachSealedBatch(in: extent, from: start) { header, bytes in
                // Records of transactions supersede nothing: an aborted one must not hide an older value.
                guard !header.isTransactional else { return true }
                hashed.removeAll(keepingCapacity: true)
                try BatchDecoder.forEachRecord(in: bytes, header: header) { record in
                    guard record.offset >= start, let key = record.key else { return true }
                    let hash = KeyHash(key)
                    map.prefetch(hash)
                    hashed.append((hash, record.offset))
                    return true
                }
                stop = put(prefetched)
                swap(&hashed, &prefetched)
                return stop == nil
            }
            if stop == nil { stop = put(prefetched) }
            prefetched.removeAll(keepingCapacity: true)
            if let stop { return stop }
        }
        return extents.last?.nextOffset ?? start
    }

    /// Calls `body` with the records of a sealed segment, and the header of
    /// the batch of each, from the batch that holds `offset` on, until it
    /// returns false. Every batch is checked (CRC, offset sequence); damage is
    /// an error, never skipped.
    private func forEachSealedRecord(
        in extent: SegmentExtent, from offset: Int64, _ body: (RecordView, BatchHeader) throws -> Bool
    ) throws {
        try forEachSealedBatch(in: extent, from: offset) { header, bytes in
            var more = true
            try BatchDecoder.forEachRecord(in: bytes, header: header) { record in
                more = try body(record, header)
                return more
            }
            return more
        }
    }

    /// Calls `body` with each batch of a sealed segment (its header and its
    /// bytes, CRC-checked), from the batch that holds `offset` on, until it
    /// returns false. Damage is an error, never skipped.
    private func forEachSealedBatch(
        in extent: SegmentExtent, from offset: Int64, _ body: (BatchHeader, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        let index = extent.segment.index
        var position: Int64 = 0
        var batchBase = extent.baseOffset
        if offset > extent.baseOffset,
            let entry = index.search(relativeOffset: UInt32(offset - extent.baseOffset), count: extent.indexCount)
        {
            position = index.entry(entry).position
            batchBase = extent.baseOffset + Int64(index.entry(entry).relativeOffset)
        }
        let store = extent.segment.store
        let scan = try StoreScanner(file: store, fileSize: extent.storeSize).scanBatches(from: position, baseOffset: batchBase) {
            _, header, bytes in try body(header, bytes)
        }
        if let damage = scan.damage {
            throw LogStoreError(
                .corruption, "damaged batch in a sealed segment (\(damage.problem)); compaction changed nothing here",
                path: store.path.string, offset: damage.expectedOffset, position: damage.position)
        }
    }

    /// Rewrites one sealed segment with the records `rule` keeps and swaps it
    /// in; nil (and no change) when the rule keeps every record or the
    /// segment is gone meanwhile (retention, truncation).
    private func clean(_ extent: SegmentExtent, rule: KeepRule, report: inout CompactionReport) throws -> SegmentExtent? {
        let storePath = extent.segment.store.path
        let indexPath = extent.segment.index.file.path
        let cleanedStore = FilePath(storePath.string + Self.cleanedSuffix)
        let cleanedIndex = FilePath(indexPath.string + Self.cleanedSuffix)
        var keepCleanedFiles = false
        defer {
            if !keepCleanedFiles {
                try? FileSystem.remove(cleanedStore)
                try? FileSystem.remove(cleanedIndex)
            }
        }
        let output = try OpenFile(path: cleanedStore, options: [.create, .truncate])
        var level: Int?
        if case .gzip(let gzipLevel) = options.compression { level = gzipLevel }
        let segmentMaxTimestamp = extent.indexCount > 0 ? extent.segment.index.entry(extent.indexCount - 1).maxTimestamp : 0
        // Written with the log's compression setting (Kafka keeps each batch's codec; batches are merged here).
        let entries: [IndexEntry]? = try withOptionalDeflater(level: level) { deflater in
            var compress: ((UnsafeRawBufferPointer, UnsafeMutableRawPointer) -> Int?)?
            if let deflater {
                compress = { plain, destination in BatchCompressor.gzip(plain, deflater: deflater, into: destination) }
            }
            let builder = BatchBuilder(
                baseOffset: extent.baseOffset, segmentBase: extent.baseOffset, position: 0,
                targetRecordsBytes: Self.compactedBatchBytes,
                compress: compress)
            var dropped = 0
            var transactional = false
            var tombstones: Int64 = 0
            try forEachSealedRecord(in: extent, from: extent.baseOffset) { record, header in
                // A segment with batches of Kafka transactions stays as it is: rewriting it would drop
                // their producer ids and markers, which read_committed consumers need (docs/FORMAT.md).
                if header.isTransactional {
                    transactional = true
                    return false
                }
                if rule.keeps(record, tombstonesRemoved: &tombstones) {
                    builder.add(record)
                    if builder.output.count >= 1 << 20 { try builder.drain { try output.write($0, at: $1) } }
                } else {
                    dropped += 1
                }
                return true
            }
            guard dropped > 0, !transactional else { return nil }
            report.tombstonesRemoved += tombstones
            builder.close(lastOffset: extent.nextOffset - 1, emptyTimestamp: segmentMaxTimestamp)
            try builder.drain { try output.write($0, at: $1) }
            return builder.entries
        }
        guard let entries else { return nil }
        try output.syncData()
        let storeSize = try output.size()
        let indexFile = try OpenFile(path: cleanedIndex, options: [.create, .truncate])
        try Self.indexBytes(entries).withUnsafeBytes { try indexFile.write($0, at: 0) }
        try indexFile.syncData()

        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        guard let number = writer.sealed.firstIndex(where: { $0.segment === extent.segment }) else { return nil }
        do {
            let swapStore = FilePath(storePath.string + Self.swapSuffix)
            try FileSystem.rename(cleanedStore, to: swapStore)
            try FileSystem.syncDirectory(directory)
            // Decided: from here on an open after a crash completes the swap.
            keepCleanedFiles = true
            // The old index goes first: no moment pairs an index with the other store
            // (readers and verify rebuild or skip a missing index meanwhile).
            try FileSystem.remove(indexPath)
            try FileSystem.rename(swapStore, to: storePath)
            try FileSystem.rename(cleanedIndex, to: indexPath)
            try FileSystem.syncDirectory(directory)
            let store = try OpenFile(path: storePath, options: [])
            let index = try SegmentIndex(
                file: try OpenFile(path: indexPath, options: []), count: entries.count, preallocateBytes: nil)
            let cleaned = SegmentExtent(
                segment: Segment(baseOffset: extent.baseOffset, store: store, index: index), storeSize: storeSize,
                indexCount: entries.count, nextOffset: extent.nextOffset)
            // Readers holding the old segment keep reading the old files through their descriptors.
            writer.sealed[number] = cleaned
            publishLocked()
            return cleaned
        } catch {
            throw fail(error)
        }
    }

    /// After a roll under `cleanup.policy=compact`: starts a compaction on a
    /// thread of its own, or asks the one running for another round. Never
    /// blocks the appender; `close()` joins the thread.
    func requestBackgroundCompactionLocked() {
        guard !writer.closed else { return }
        if writer.compactionRunning {
            writer.compactionRequested = true
            return
        }
        // The previous thread finished its rounds (it no longer needs the lock): collect it.
        if let finished = writer.compactionThread { pthread_join(finished, nil) }
        writer.compactionThread = nil
        do {
            writer.compactionThread = try startThread { [self] in runBackgroundCompaction() }
            writer.compactionRunning = true
        } catch {
            logger.error("log.compaction_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
        }
    }

    /// Compacts until no roll asked for more, or the log closes.
    private func runBackgroundCompaction() {
        while true {
            do {
                try compact()
            } catch {
                if !isClosedForCompaction() {
                    logger.error("log.compaction_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
                }
            }
            let again = writerLock.withLock {
                guard !writer.closed, writer.compactionRequested else {
                    writer.compactionRunning = false
                    return false
                }
                writer.compactionRequested = false
                return true
            }
            if !again { return }
        }
    }

    /// Whether no background compaction is at work (for tests).
    var isBackgroundCompactionIdle: Bool { writerLock.withLock { !writer.compactionRunning } }

    /// Whether the log closed or failed: a compaction stops at the next segment.
    func isClosedForCompaction() -> Bool {
        writerLock.withLock { writer.closed || writer.failure != nil }
    }

    /// Runs `body` with a pooled gzip compressor of `level`, or with nil when `level` is nil.
    private func withOptionalDeflater<T>(level: Int?, _ body: (GzipDeflater?) throws -> T) throws -> T {
        guard let level else { return try body(nil) }
        return try withDeflater(level: level) { try body($0) }
    }

    /// An index file's bytes for `entries` (each with its batch's own
    /// maximum timestamp, turned into the running maximum here).
    static func indexBytes(_ entries: [IndexEntry]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: entries.count * IndexLayout.entrySize)
        var runningMax = Int64.min
        bytes.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            for (number, entry) in entries.enumerated() {
                runningMax = max(runningMax, entry.maxTimestamp)
                IndexEntry(relativeOffset: entry.relativeOffset, position: entry.position, maxTimestamp: runningMax)
                    .store(to: base + number * IndexLayout.entrySize)
            }
        }
        return bytes
    }

    /// Finishes or rolls back a compaction a crash interrupted, before `open`
    /// loads the segments: a `<base>.store.swap` was decided, so it replaces
    /// the store (the index is deleted and rebuilt from it by the open); any
    /// `.cleaned` file is an undecided rewrite and goes.
    static func finishInterruptedCompaction(directory: FilePath, logger: Logger) throws {
        var changed = false
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(".store" + swapSuffix) {
            let storeName = String(name.dropLast(swapSuffix.count))
            guard let base = Segment.baseOffset(fileName: storeName, suffix: "store") else { continue }
            try FileSystem.remove(Segment.indexPath(in: directory, baseOffset: base))
            try FileSystem.rename(directory.appending(name), to: directory.appending(storeName))
            logger.warning("log.compaction_swap_finished", metadata: ["log.file": "\(storeName)"])
            changed = true
        }
        for name in try FileSystem.listDirectory(directory) where name.hasSuffix(cleanedSuffix) {
            try FileSystem.remove(directory.appending(name))
            changed = true
        }
        if changed { try FileSystem.syncDirectory(directory) }
    }
}
