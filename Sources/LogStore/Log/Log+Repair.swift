import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `Log.repair` did, or in a dry run would do.
public struct RepairReport: Sendable, Hashable {
    /// Good batches, back to back with consecutive offsets, that the scanner
    /// still recognises in the moved bytes (what the quarantine file holds).
    public struct BatchRun: Sendable, Hashable {
        public var firstOffset: Int64
        public var lastOffset: Int64
        public var batches: Int
        public var records: Int64
        /// Byte position of the run's first batch in the quarantine file.
        public var position: Int64
    }

    /// One segment that needed repair, and what repair does to it.
    public struct SegmentRepair: Sendable, Hashable {
        public var baseOffset: Int64
        /// The segment's `.store` file.
        public var store: String
        /// Why its data stops being good at `keptBytes`; nil for a store
        /// without damage that ends short of the next segment's base offset.
        public var problem: String?
        /// The good batches before the damage, which stay in the store.
        public var keptBatches: Int
        public var keptRecords: Int64
        public var keptBytes: Int64
        /// Where the bytes from the damaged batch to the end of the store go
        /// (`<base>.damaged-<first lost offset>`); nil when nothing is moved.
        public var quarantineFile: String?
        public var bytesMoved: Int64
        /// The first offset no longer in the log: the damaged batch's offset.
        public var firstLostOffset: Int64
        /// One past the last offset lost, when known: the next segment's base
        /// offset, or for the last segment the end of the last batch
        /// recognised after the damage (appends continue there).
        public var lostOffsetsEnd: Int64?
        /// The offsets the empty batch written after the kept batches covers:
        /// up to the next segment (which stays), or in the last segment up to
        /// the last batch recognised after the damage (so no offset is given
        /// to another record); nil when there is nothing to cover.
        public var filledOffsets: Range<Int64>?
        /// Good batches found after the damage, all inside the moved bytes.
        public var recognisedAfterDamage: [BatchRun]
    }

    /// Whether this was a dry run: nothing was changed.
    public var dryRun: Bool
    /// Segments looked at.
    public var segments = 0
    /// The segments repaired (or that a repair would change), oldest first.
    public var repairs: [SegmentRepair] = []
    /// Things worth knowing that are not a repair (an interrupted operation a
    /// real run finishes first, segments that overlap).
    public var notes: [String] = []

    /// True when the log needed no repair.
    public var nothingToRepair: Bool { repairs.isEmpty }
}

extension Log {
    /// Repairs a closed log that has damage with good data after it (a bad
    /// disk), which `open` refuses. Never called by anything else: a log is
    /// only repaired when someone asks.
    ///
    /// For each segment whose store the scanner finds damaged (the same
    /// checks as `open` and `verify`: length, magic, CRC-32C, offset
    /// sequence), the bytes from the first damaged batch to the end of the
    /// store are moved into a quarantine file beside it,
    /// `<20-digit base offset>.damaged-<first lost offset>` (`.2`, `.3`, …
    /// appended when an earlier repair's quarantine holds that name), written
    /// and fsynced under a temporary name and renamed into place before the
    /// store changes. The store is then cut at the last good batch (a copy
    /// renamed over it) and its index rewritten. In a segment that is not the
    /// last one, an empty batch covers the offsets from the cut to the next
    /// segment, so the later segments stay and offsets keep tiling. A store
    /// that ends short of the next segment without damage gets that batch too.
    ///
    /// Each step can be redone: after a crash midway, running it again
    /// finishes the job and loses nothing (the quarantine file is complete
    /// before the store is cut; an identical one is kept as it is). An
    /// interrupted truncation or compaction is finished first, as `open` does.
    /// Indexes are not checked: `open` rebuilds a damaged one.
    /// - Parameters:
    ///   - directory: the log's directory.
    ///   - dryRun: work out and report the same plan, changing nothing.
    ///   - logger: where each repaired segment is reported.
    /// - Returns: per repaired segment what was kept, moved and lost.
    /// - Throws: `.unavailable` when a process has the log open,
    ///   `.invalidArgument` when there is no log there, `.io` when a step fails.
    public static func repair(
        directory: FilePath, dryRun: Bool = false, logger: Logger = Logger(label: "logstore")
    ) throws -> RepairReport {
        guard FileSystem.exists(directory) else {
            throw LogStoreError(.invalidArgument, "no log here", path: directory.string)
        }
        guard
            try FileSystem.listDirectory(directory).contains(where: { Segment.baseOffset(fileName: $0, suffix: "store") != nil })
        else {
            throw LogStoreError(.invalidArgument, "not a log: no .store files", path: directory.string)
        }
        let lockPath = directory.appending(lockFileName)
        // A dry run creates nothing: without a lock file nobody has the log open.
        let lockFile =
            dryRun && !FileSystem.exists(lockPath)
            ? nil : try OpenFile(path: lockPath, options: dryRun ? [] : [.create], mode: .readOnly)
        if let lockFile, flock(lockFile.descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw LogStoreError(
                .unavailable, "log is open in another process; close it before repairing it", path: directory.string)
        }
        defer { if let lockFile { flock(lockFile.descriptor.rawValue, LOCK_UN) } }

        var report = RepairReport(dryRun: dryRun)
        let pending = try FileSystem.listDirectory(directory).filter { $0 == truncationMarker || $0.hasSuffix(swapSuffix) }
        if dryRun {
            if !pending.isEmpty {
                report.notes.append(
                    "an interrupted truncation or compaction (\(pending.joined(separator: ", "))) is finished first")
            }
        } else {
            // As `open` does: the stores are then what the log really holds.
            try finishInterruptedCompaction(directory: directory, logger: logger)
            _ = try finishInterruptedTruncation(directory: directory, logger: logger)
        }
        let bases = try FileSystem.listDirectory(directory).compactMap { Segment.baseOffset(fileName: $0, suffix: "store") }
            .sorted()
        report.segments = bases.count
        for (number, base) in bases.enumerated() {
            let nextBase = number + 1 < bases.count ? bases[number + 1] : nil
            let plan = try SegmentRepairPlan(directory: directory, baseOffset: base, nextBase: nextBase)
            if let nextBase, plan.scanNextOffset > nextBase {
                report.notes.append(
                    "\(plan.storePath.string) ends at offset \(plan.scanNextOffset), past the next segment's base offset \(nextBase): repair cannot fix that"
                )
            }
            guard let repair = plan.repair else { continue }
            report.repairs.append(repair)
            if !dryRun { try plan.apply(directory: directory) }
            logger.info(
                dryRun ? "log.repair_planned" : "log.repaired",
                metadata: [
                    "log.file": "\(plan.storePath)", "log.kept_bytes": "\(repair.keptBytes)",
                    "log.bytes_moved": "\(repair.bytesMoved)", "log.quarantine": "\(repair.quarantineFile ?? "none")",
                    "log.first_lost_offset": "\(repair.firstLostOffset)",
                ])
        }
        return report
    }
}

/// What repair does to one segment, worked out from its store without
/// changing anything; `apply` does it.
struct SegmentRepairPlan {
    let storePath: FilePath
    let indexPath: FilePath
    /// One past the last offset of the good batches before any damage.
    let scanNextOffset: Int64
    /// The report's line for this segment; nil when it needs nothing.
    let repair: RepairReport.SegmentRepair?
    private let store: OpenFile
    private let storeSize: Int64
    /// Where the kept batches end: the position of the first damaged batch, or the end of the store.
    private let cut: Int64
    /// Index entries of the kept batches and the empty batch, each with its own maximum timestamp.
    private let entries: [IndexEntry]
    /// The empty batch(es) covering the lost offsets, written after the kept batches.
    private let fillBytes: [UInt8]
    private let quarantinePath: FilePath?
    /// The quarantine file exists already with exactly the bytes to move (a
    /// repair interrupted after writing it).
    private let quarantined: Bool

    init(directory: FilePath, baseOffset: Int64, nextBase: Int64?) throws {
        storePath = Segment.storePath(in: directory, baseOffset: baseOffset)
        indexPath = Segment.indexPath(in: directory, baseOffset: baseOffset)
        store = try OpenFile(path: storePath, options: [], mode: .readOnly)
        storeSize = try store.size()
        var kept: [IndexEntry] = []
        var keptRecords: Int64 = 0
        let scan = try StoreScanner(file: store, fileSize: storeSize).scan(baseOffset: baseOffset) { position, header in
            kept.append(header.indexEntry(segmentBase: baseOffset, position: position))
            keptRecords += Int64(header.recordCount)
        }
        scanNextOffset = scan.nextOffset
        cut = scan.validEnd
        var fillEnd = nextBase.flatMap { $0 > scan.nextOffset ? $0 : nil }
        guard scan.damage != nil || fillEnd != nil else {
            repair = nil
            entries = []
            fillBytes = []
            quarantinePath = nil
            quarantined = false
            return
        }
        var runs: [RepairReport.BatchRun] = []
        var newestTimestamp = kept.map(\.maxTimestamp).max()
        if let damage = scan.damage {
            let recognised = try StoreScanner(file: store, fileSize: storeSize).recognisedBatches(
                after: damage.position, expectedOffset: damage.expectedOffset)
            runs = recognised.runs
            if let newest = recognised.maxTimestamp { newestTimestamp = max(newestTimestamp ?? newest, newest) }
            if nextBase == nil, let last = runs.last?.lastOffset, last >= scan.nextOffset {
                // The last segment: its offsets up to the last batch still
                // recognisable are covered too, so no offset a consumer may
                // have read is ever given to another record.
                fillEnd = last + 1
            }
            let target = try Self.quarantineTarget(
                directory: directory, baseOffset: baseOffset, firstLostOffset: damage.expectedOffset, store: store,
                range: cut..<storeSize)
            quarantinePath = target.path
            quarantined = target.isWritten
        } else {
            quarantinePath = nil
            quarantined = false
        }
        var fillOffsets: Range<Int64>?
        var fillEntries: [IndexEntry] = []
        var fill: [UInt8] = []
        if let fillEnd {
            // Offsets tile (docs/FORMAT.md): empty batches cover the lost range,
            // as compaction covers the offsets of removed records. Their timestamp
            // is the newest one known of the segment (retention by time goes by
            // it), else -1, Kafka's "no timestamp".
            let builder = BatchBuilder(
                baseOffset: scan.nextOffset, segmentBase: baseOffset, position: cut, targetRecordsBytes: Int.max)
            let timestamp = newestTimestamp ?? -1
            var start = scan.nextOffset
            // `lastOffsetDelta` is an int32: a longer range takes more than one batch.
            while start < fillEnd {
                let last = min(fillEnd - 1, start + Int64(Int32.max))
                builder.close(lastOffset: last, emptyTimestamp: timestamp)
                start = last + 1
            }
            fill = Array(builder.output.bytes)
            fillEntries = builder.entries
            fillOffsets = scan.nextOffset..<fillEnd
        }
        entries = kept + fillEntries
        fillBytes = fill
        repair = RepairReport.SegmentRepair(
            baseOffset: baseOffset, store: storePath.string, problem: scan.damage.map { "\($0.problem)" },
            keptBatches: scan.batchCount, keptRecords: keptRecords, keptBytes: cut,
            quarantineFile: quarantinePath?.string, bytesMoved: storeSize - cut, firstLostOffset: scan.nextOffset,
            lostOffsetsEnd: fillEnd ?? runs.last.map { $0.lastOffset + 1 }, filledOffsets: fillOffsets,
            recognisedAfterDamage: runs)
    }

    /// Does the plan; each step is safe to redo after a crash.
    func apply(directory: FilePath) throws {
        // 1. The moved bytes are durable under their own name before the store changes.
        if let quarantinePath, !quarantined {
            try Self.writeQuarantine(store, range: cut..<storeSize, to: quarantinePath)
        }
        // 2. Nothing may vouch for the old store any more: sealed indexes are
        // trusted after cheap checks, and so is the active one after a clean close.
        try FileSystem.remove(directory.appending(Log.cleanShutdownMarker))
        try FileSystem.remove(indexPath)
        try FileSystem.syncDirectory(directory)
        // 3. The cut store, and the empty batch, replace the old one at once (a rename).
        let temporary = FilePath(storePath.string + ".tmp")
        let output = try OpenFile(path: temporary, options: [.create, .truncate])
        try Self.copy(store, range: 0..<cut, to: output, at: 0)
        if !fillBytes.isEmpty { try fillBytes.withUnsafeBytes { try output.write($0, at: cut) } }
        try output.syncData()
        try FileSystem.rename(temporary, to: storePath)
        try FileSystem.syncDirectory(directory)
        // 4. Its index: a missing one would be rebuilt by the next open, but
        // readers in other processes and `verify` want it whole.
        try FileSystem.replaceAtomically(indexPath, with: Log.indexBytes(entries))
    }

    /// Where `range` of a segment's store goes when it is moved aside:
    /// `<base>.damaged-<first lost offset>`, with `.2`, `.3`, … when an
    /// earlier quarantine (other bytes) holds the name, which is never
    /// overwritten. `isWritten`: a file there holds exactly those bytes already
    /// (a move interrupted after writing it).
    static func quarantineTarget(
        directory: FilePath, baseOffset: Int64, firstLostOffset: Int64, store: OpenFile, range: Range<Int64>
    ) throws -> (path: FilePath, isWritten: Bool) {
        let name = Segment.fileName(baseOffset: baseOffset, suffix: Log.quarantineSuffix + String(firstLostOffset))
        var attempt = 1
        var path = directory.appending(name)
        while FileSystem.exists(path) {
            if try file(path, holds: store, range: range) { return (path, true) }
            attempt += 1
            path = directory.appending(name + ".\(attempt)")
        }
        return (path, false)
    }

    /// Writes `range` of `store` to `path` durably: a temporary file, fsynced,
    /// renamed, the directory fsynced.
    static func writeQuarantine(_ store: OpenFile, range: Range<Int64>, to path: FilePath) throws {
        let temporary = FilePath(path.string + ".tmp")
        let output = try OpenFile(path: temporary, options: [.create, .truncate])
        try copy(store, range: range, to: output, at: 0)
        try output.syncData()
        try FileSystem.rename(temporary, to: path)
        try FileSystem.syncDirectory(path.removingLastComponent())
    }

    /// Copies `range` of `source` to `destination` at `position`, a chunk at a time.
    private static func copy(_ source: OpenFile, range: Range<Int64>, to destination: OpenFile, at position: Int64) throws {
        var chunk: [UInt8] = []
        _ = try forEachChunk(of: range) { done, length in
            chunk = try read(source, at: range.lowerBound + done, count: length)
            try chunk.withUnsafeBytes { try destination.write($0, at: position + done) }
            return true
        }
    }

    /// Whether the file at `path` holds exactly `range` of `store`.
    private static func file(_ path: FilePath, holds store: OpenFile, range: Range<Int64>) throws -> Bool {
        let file = try OpenFile(path: path, options: [], mode: .readOnly)
        guard try file.size() == range.upperBound - range.lowerBound else { return false }
        return try forEachChunk(of: range) { done, length in
            try read(store, at: range.lowerBound + done, count: length) == read(file, at: done, count: length)
        }
    }

    /// Calls `body` with the start (from `range`'s lower bound) and length of
    /// each 1 MiB piece of `range` until it returns false; returns whether it
    /// never did.
    private static func forEachChunk(of range: Range<Int64>, _ body: (Int64, Int) throws -> Bool) throws -> Bool {
        let total = range.upperBound - range.lowerBound
        var done: Int64 = 0
        while done < total {
            let length = Int(min(Int64(1 << 20), total - done))
            guard try body(done, length) else { return false }
            done += Int64(length)
        }
        return true
    }

    /// Exactly `count` bytes of `file` at `position`; `.io` when the file ends first.
    private static func read(_ file: OpenFile, at position: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let read = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: position) }
        guard read == count else {
            throw LogStoreError(
                .io, "file ended early (it changed while repair read it)", path: file.path.string, position: position)
        }
        return bytes
    }
}

extension StoreScanner {
    /// The good batches (length, magic and CRC-32C check out, base offsets
    /// from `expectedOffset` on and increasing) that start after the damaged
    /// batch at `damage`, in runs of consecutive offsets (positions relative
    /// to `damage`), and the newest timestamp among them.
    func recognisedBatches(after damage: Int64, expectedOffset: Int64) throws -> (
        runs: [RepairReport.BatchRun], maxTimestamp: Int64?
    ) {
        var runs: [RepairReport.BatchRun] = []
        var maxTimestamp: Int64?
        var searchAfter = damage
        var expected = expectedOffset
        while let position = try firstGoodBatch(after: searchAfter, expectedOffset: expected) {
            var bytes = [UInt8](repeating: 0, count: BatchLayout.headerSize)
            let read = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: position) }
            guard read == bytes.count, case .success(let first) = bytes.withUnsafeBytes({ BatchHeader.decode($0) }) else {
                break
            }
            var run = RepairReport.BatchRun(
                firstOffset: first.baseOffset, lastOffset: first.lastOffset, batches: 0, records: 0, position: position - damage)
            // The batches that follow it back to back, as recovery reads them.
            let chain = try scan(from: position, baseOffset: first.baseOffset) { _, header in
                run.lastOffset = header.lastOffset
                run.batches += 1
                run.records += Int64(header.recordCount)
                maxTimestamp = max(maxTimestamp ?? header.maxTimestamp, header.maxTimestamp)
            }
            runs.append(run)
            guard let next = chain.damage, !next.isTail else { break }
            searchAfter = next.position
            expected = next.expectedOffset
        }
        return (runs, maxTimestamp)
    }
}
