import Logging
import SystemPackage

extension Log {
    /// Opens a log to read it while another process may be appending to it.
    ///
    /// Takes no lock and changes no file. Sealed segments are read through
    /// their index files; the last segment, whose index lives in the writer's
    /// memory, is scanned to build an index here. `waitForRecord(at:)` and
    /// `follow(from:)` pick up what the writer adds: woken by inotify on the
    /// log's directory (Linux), else checking the files every 5 ms. Appending,
    /// truncating and deleting throw `.unavailable`.
    /// - Throws: `LogStoreError` (`.io` when the directory cannot be read).
    public static func openForReading(directory: FilePath, logger: Logger = Logger(label: "logstore")) throws -> Log {
        let names = try FileSystem.listDirectory(directory)
        let bases = names.compactMap { Segment.baseOffset(fileName: $0, suffix: "store") }.sorted()
        guard let lastBase = bases.last else {
            throw LogStoreError(.invalidArgument, "not a log: no .store files", path: directory.string)
        }
        var sealed: [SegmentExtent] = []
        for base in bases.dropLast() {
            sealed.append(try loadForReading(directory: directory, baseOffset: base, whole: false))
        }
        let active = try loadForReading(directory: directory, baseOffset: lastBase, whole: true)
        let log = Log(
            directory: directory, options: LogOptions(syncPolicy: .never), logger: logger, lockFile: nil, sealed: sealed,
            active: active.segment, activeSize: active.storeSize, nextOffset: active.nextOffset, readOnly: true)
        return log
    }

    /// A segment for a read-only opener: its index file when that checks out
    /// (sealed segments), else an index in memory built by scanning the store
    /// up to the first incomplete batch.
    private static func loadForReading(directory: FilePath, baseOffset: Int64, whole: Bool) throws -> SegmentExtent {
        let store = try OpenFile(path: Segment.storePath(in: directory, baseOffset: baseOffset), options: [], mode: .readOnly)
        let storeSize = try store.size()
        let indexPath = Segment.indexPath(in: directory, baseOffset: baseOffset)
        let indexFile =
            FileSystem.exists(indexPath)
            ? try OpenFile(path: indexPath, options: [], mode: .readOnly) : store
        if !whole, indexFile !== store,
            let trusted = try trustedIndex(store: store, storeSize: storeSize, indexFile: indexFile, baseOffset: baseOffset)
        {
            return SegmentExtent(
                segment: Segment(baseOffset: baseOffset, store: store, index: trusted.index), storeSize: storeSize,
                indexCount: trusted.index.count, nextOffset: trusted.nextOffset)
        }
        let index = try SegmentIndex(inMemoryFor: indexFile, capacity: 1024)
        let segment = Segment(baseOffset: baseOffset, store: store, index: index)
        var extent = SegmentExtent(segment: segment, storeSize: 0, indexCount: 0, nextOffset: baseOffset)
        try scanForReading(&extent, fileSize: storeSize)
        if !whole, extent.storeSize != storeSize {
            // A sealed segment was synced whole before the next one was
            // created: bad bytes at its end are damage, not a torn tail.
            throw LogStoreError(
                .corruption, "damaged batch at the end of a sealed segment; run `logd verify`", path: store.path.string,
                offset: extent.nextOffset, position: extent.storeSize)
        }
        return extent
    }

    /// Extends `extent` with the good batches between its end and `fileSize`
    /// (growing its in-memory index as needed). Stops quietly at an
    /// incomplete batch: the writer may be in the middle of it.
    /// - Throws: `.corruption` for a damaged batch with a good batch after it.
    private static func scanForReading(_ extent: inout SegmentExtent, fileSize: Int64) throws {
        guard fileSize > extent.storeSize else { return }
        var entries: [IndexEntry] = []
        let base = extent.baseOffset
        let scan = try StoreScanner(file: extent.segment.store, fileSize: fileSize).scan(
            from: extent.storeSize, baseOffset: extent.nextOffset
        ) { position, header in
            entries.append(header.indexEntry(segmentBase: base, position: position))
        }
        // A writer only ever leaves an incomplete batch at the end, and a
        // crash a lost write (which the writer's next open sets aside). Other
        // damage with good data after it is corruption, not the end of the
        // log: report it, never drop the records after it silently (DESIGN.md rule 2).
        if let damage = scan.damage, !damage.isCrashTail {
            throw LogStoreError(
                .corruption, "damaged batch with good data after it (\(damage.problem)); run `logd verify`",
                path: extent.segment.store.path.string, offset: damage.expectedOffset, position: damage.position)
        }
        guard !entries.isEmpty else { return }
        var index = extent.segment.index
        if index.count + entries.count > index.capacity {
            let grown = try SegmentIndex(inMemoryFor: index.file, capacity: max(index.capacity * 2, index.count + entries.count))
            for number in 0..<index.count { grown.append(index.entry(number)) }
            index = grown
            extent.segment = Segment(baseOffset: base, store: extent.segment.store, index: grown)
        }
        for entry in entries { index.append(entry) }
        extent.storeSize = scan.validEnd
        extent.indexCount = index.count
        extent.nextOffset = scan.nextOffset
    }

    /// Catches up with what the writing process added: new batches in the last
    /// segment, segments it rolled to, segments retention removed.
    func refreshReadOnlyLocked() throws {
        var active = SegmentExtent(
            segment: writer.active, storeSize: writer.flushedSize, indexCount: writer.active.index.count,
            nextOffset: writer.nextOffset)
        let size = try active.segment.store.size()
        if size < active.storeSize {
            // The writer truncated the log: start over from the files.
            let fresh = try Log.openForReading(directory: directory, logger: logger)
            writer.sealed = fresh.writer.sealed
            writer.active = fresh.writer.active
            writer.buffer.startPosition = fresh.writer.flushedSize
            writer.nextOffset = fresh.writer.nextOffset
            writer.flushedNextOffset = fresh.writer.nextOffset
            writer.visibleActive = flushedExtentLocked()
            publishLocked()
            return
        }
        try Log.scanForReading(&active, fileSize: size)
        // A segment named by our next offset means the writer rolled: it had
        // synced the old store before creating the new one, so finish the old
        // one first, then move on.
        while active.nextOffset > active.baseOffset,
            FileSystem.exists(Segment.storePath(in: directory, baseOffset: active.nextOffset))
        {
            try Log.scanForReading(&active, fileSize: try active.segment.store.size())
            let nextBase = active.nextOffset
            guard FileSystem.exists(Segment.storePath(in: directory, baseOffset: nextBase)) else { break }
            writer.sealed.append(active)
            let next = try Log.loadForReading(directory: directory, baseOffset: nextBase, whole: true)
            active = next
        }
        while let oldest = writer.sealed.first, !FileSystem.exists(oldest.segment.store.path) {
            writer.sealed.removeFirst()
        }
        writer.active = active.segment
        writer.buffer.startPosition = active.storeSize
        writer.nextOffset = active.nextOffset
        writer.flushedNextOffset = active.nextOffset
        writer.visibleActive = flushedExtentLocked()
        publishLocked()
    }

    /// Suspends until the record at `offset` can be read; false when the log
    /// was closed or the task cancelled first.
    public func waitForRecord(at offset: Int64) async -> Bool {
        guard isReadOnly else { return await waitUntilReadable(offset) }
        let watcher = startedDirectoryWatcher()
        while !Task.isCancelled {
            // Read before looking, so that a change made meanwhile ends the wait at once.
            let generation = watcher?.generation ?? 0
            let state: (ready: Bool, closed: Bool) = writerLock.withLock {
                if writer.closed { return (false, true) }
                do {
                    try refreshReadOnlyLocked()
                } catch {
                    logger.warning("log.refresh_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
                }
                return (
                    writer.nextOffset > offset || offset < (writer.sealed.first?.baseOffset ?? writer.active.baseOffset), false
                )
            }
            if state.closed { return false }
            if state.ready { return true }
            if let watcher {
                await watcher.wait(after: generation, timeout: .milliseconds(Log.watchedPollMilliseconds))
            } else {
                try? await Task.sleep(for: .milliseconds(Log.readOnlyPollMilliseconds))
            }
        }
        return false
    }

    /// The directory watcher, started on first use; nil where there is none (then readers poll).
    private func startedDirectoryWatcher() -> DirectoryWatcher? {
        directoryWatcher.withLock { state in
            switch state {
            case .watching(let watcher): return watcher
            case .unavailable: return nil
            case .notStarted:
                let closed = writerLock.withLock { writer.closed }
                guard !closed, let watcher = DirectoryWatcher.start(directory) else {
                    state = .unavailable
                    return nil
                }
                state = .watching(watcher)
                return watcher
            }
        }
    }

    /// How often a read-only opener without a directory watcher looks for the
    /// writer's progress while waiting.
    static let readOnlyPollMilliseconds = 5
    /// With a watcher, a look now and then all the same, in case an event was missed.
    static let watchedPollMilliseconds = 250
}
