import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A segmented, append-only commit log in one directory.
///
/// One writer at a time appends (calls are serialized by a lock; group commit
/// lets concurrent appenders share an `fdatasync`); any number of readers read
/// concurrently without taking the writer lock, from the bytes that were
/// written out when they looked. Only one process may open a log directory.
///
/// ```swift
/// let log = try Log.open(directory: "/var/lib/app/events")
/// let offset = try log.append(Record("hello"))
/// let record = try log.read(at: offset)
/// try log.close()
/// ```
public final class Log: @unchecked Sendable {
    // @unchecked: `writer` is guarded by `writerLock`, `view` by its Mutex,
    // everything else is immutable after `open`.

    /// The log's directory.
    public let directory: FilePath
    public let options: LogOptions
    let logger: Logger
    /// Held open with an exclusive `flock` while the log is open for writing.
    let lockFile: OpenFile?
    /// Opened with `openForReading`: no writes, catches up with another process's.
    /// Opened with `openForReading`: another process writes it.
    public let isReadOnly: Bool

    let writerLock = ConditionLock()
    // Guarded by `writerLock`: no dynamic exclusivity checks on the append path (they cost ~9% of a small append).
    @exclusivity(unchecked) var writer: WriterState
    let view: Mutex<ReadView>
    /// Followers waiting past the end; appends flush at once while there are any.
    let waitingFollowers = Atomic<Int>(0)
    var syncThread: pthread_t?
    /// gzip compressors for appends, reused (a fresh one costs a 256 KiB setup).
    let deflaters = Mutex<[GzipDeflater]>([])
    /// Held by the compaction running (one at a time); see `compact`.
    let compactionLock = Mutex<Void>(())
    /// A read-only log's watcher of its directory, started by the first wait
    /// for a record (`waitForRecord(at:)`); `.unavailable` where there is no inotify.
    let directoryWatcher = Mutex<WatcherState>(.notStarted)

    enum WatcherState: Sendable {
        case notStarted
        case watching(DirectoryWatcher)
        case unavailable
    }

    struct WriterState {
        var sealed: [SegmentExtent]
        var active: Segment
        /// Never replaced, only resized in place, so a reference taken before
        /// a flush is still the buffer after it (issue 14: a batch encoded
        /// into a buffer the flush had swapped out never reached the store).
        let buffer: WriteBuffer
        /// Bytes of the active store written to the file (the rest is in `buffer`).
        var flushedSize: Int64 { buffer.startPosition }
        /// Offset the next record gets.
        var nextOffset: Int64
        /// Next offset as of the last flush.
        var flushedNextOffset: Int64
        /// What readers may see of the active segment: under `.always`, only
        /// what an fdatasync covered (a reader never sees a record a crash
        /// could take back); otherwise everything written out.
        var visibleActive: SegmentExtent
        /// Position of the active store up to which writeback was started (`startWritebackIfDueLocked`).
        var writebackStarted: Int64 = 0
        /// Position of the active store up to which blocks are allocated (`preallocateLocked`); 0 for none.
        var preallocatedEnd: Int64 = 0
        var preallocationUnsupported = false
        /// Bytes appended since open, and how many of them are known durable.
        var writtenSequence: UInt64 = 0
        var durableSequence: UInt64 = 0
        var syncInProgress = false
        /// The group-commit round last started, and the sequence it makes durable.
        var syncRound: UInt64 = 0
        var syncTarget: UInt64 = 0
        /// Async appenders waiting for their sequence to be durable.
        var durabilityWaiters: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        /// Set by a failed write or sync: the log refuses appends until reopened,
        /// because the page cache can no longer be trusted (fsyncgate).
        var failure: LogStoreError?
        var closed = false
        var lockReleased = false
        /// Background compaction (`cleanup.policy=compact`): its thread, whether
        /// it is still at work, and whether a roll asked for another round.
        var compactionThread: pthread_t?
        var compactionRunning = false
        var compactionRequested = false
    }

    struct ReadView {
        var sealed: [SegmentExtent]
        var active: SegmentExtent
        /// Includes records still in the write buffer.
        var nextOffset: Int64
        var closed = false
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0

        var lowestOffset: Int64 { sealed.first?.baseOffset ?? active.baseOffset }
    }

    struct Waiter {
        var id: UInt64
        var offset: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    init(
        directory: FilePath, options: LogOptions, logger: Logger, lockFile: OpenFile?, sealed: [SegmentExtent], active: Segment,
        activeSize: Int64, nextOffset: Int64, readOnly: Bool = false
    ) {
        self.directory = directory
        self.isReadOnly = readOnly
        self.options = options
        self.logger = logger
        self.lockFile = lockFile
        let buffer = WriteBuffer(capacity: options.writeBufferBytes)
        buffer.startPosition = activeSize
        let activeExtent = SegmentExtent(
            segment: active, storeSize: activeSize, indexCount: active.index.count, nextOffset: nextOffset)
        writer = WriterState(
            sealed: sealed, active: active, buffer: buffer, nextOffset: nextOffset, flushedNextOffset: nextOffset,
            visibleActive: activeExtent)
        view = Mutex(ReadView(sealed: sealed, active: activeExtent, nextOffset: nextOffset))
    }

    // MARK: Appending

    /// Appends one record and returns its offset.
    ///
    /// Under `SyncPolicy.always` it returns only once the record is durable.
    /// - Throws: `LogStoreError` (`.invalidArgument` for a record too large for
    ///   one batch, `.io` when the write or sync fails, `.unavailable` when the
    ///   log is closed or failed earlier).
    @discardableResult
    public func append(_ record: Record) throws -> Int64 {
        try appendBatch(CollectionOfOne(record)).lowerBound
    }

    /// Appends records as one batch (one store entry) and returns their offsets.
    /// The batch is all or nothing: after a crash either every record of it is
    /// in the log or none is.
    @discardableResult
    public func append(_ records: [Record]) throws -> Range<Int64> {
        // Not generic, so callers in other modules get code specialized for arrays.
        try appendBatch(records)
    }

    /// Appends records as one batch; see `append(_: [Record])`.
    @discardableResult
    public func append<C: Collection<Record>>(_ records: C) throws -> Range<Int64> {
        try appendBatch(records)
    }

    @inline(__always)
    func appendBatch<C: Collection<Record>>(_ records: C) throws -> Range<Int64> {
        try appendBatch(records, waitForDurability: true).offsets
    }

    /// Writes the batch; under `.always` waits for durability (blocking) when
    /// `waitForDurability`, else leaves that to the caller with the returned
    /// sequence (the async `append`).
    @inline(__always)
    func appendBatch<C: Collection<Record>>(_ records: C, waitForDurability: Bool) throws -> (
        offsets: Range<Int64>, sequence: UInt64
    ) {
        guard !records.isEmpty else { throw LogStoreError(.invalidArgument, "cannot append an empty batch") }
        guard records.count < Int(Int32.max) else {
            throw LogStoreError(.invalidArgument, "a batch holds at most \(Int32.max - 1) records")
        }
        let now = currentTimeMillis()
        try BatchEncoder.checkTimestamps(records, now: now)
        let size = BatchEncoder.encodedSize(records, now: now)
        guard size <= BatchLayout.maxBatchSize else {
            throw LogStoreError(
                .invalidArgument,
                "batch of \(records.count) records takes \(size) bytes, more than the limit of \(BatchLayout.maxBatchSize)")
        }
        if case .gzip(let level) = options.compression,
            let compressed = try gzipBatch(records, now: now, size: size, level: level)
        {
            // Compressed outside the writer lock; under it the batch is copied and given its base offset.
            return try appendEncoded(size: compressed.size, recordCount: records.count, waitForDurability: waitForDurability) {
                pointer, baseOffset in
                pointer.copyMemory(from: compressed.buffer.pointer, byteCount: compressed.size)
                pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)  // outside the CRC's range
                return compressed.maxTimestamp
            }
        }
        return try appendEncoded(size: size, recordCount: records.count, waitForDurability: waitForDurability) {
            pointer, baseOffset in
            BatchEncoder.encode(records, baseOffset: baseOffset, now: now, size: size, to: pointer)
        }
    }

    /// Puts a batch of `size` bytes, written by `encode(pointer, baseOffset)`
    /// (which returns its largest timestamp), into the write buffer under the
    /// writer lock; see `appendBatch`.
    @inline(__always)
    func appendEncoded(
        size: Int, recordCount: Int, waitForDurability: Bool, _ encode: (UnsafeMutableRawPointer, Int64) -> Int64
    ) throws -> (offsets: Range<Int64>, sequence: UInt64) {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        try rollIfNeededLocked(incomingBytes: size, incomingRecords: recordCount)
        let buffer = writer.buffer
        if size > buffer.available {
            try flushLocked()
            buffer.reserve(size)
        }
        let baseOffset = writer.nextOffset
        let maxTimestamp = encode(buffer.pointer + buffer.count, baseOffset)
        let position = buffer.endPosition
        buffer.count += size
        return try recordAppendedLocked(
            baseOffset: baseOffset, position: position, size: size, recordCount: recordCount, maxTimestamp: maxTimestamp,
            writtenOut: false, waitForDurability: waitForDurability)
    }

    /// Appends a finished batch (header and CRC in place; its base offset is
    /// stored here, outside the CRC's range). One of at least 1/8 of the write
    /// buffer goes to the store straight from `batch` after the buffered
    /// batches before it, with no copy; a smaller one is copied into the buffer.
    func appendFinished(
        _ batch: UnsafeMutableRawBufferPointer, recordCount: Int, maxTimestamp: Int64, waitForDurability: Bool
    ) throws -> (offsets: Range<Int64>, sequence: UInt64) {
        guard let source = batch.baseAddress else { throw LogStoreError(.invalidArgument, "cannot append an empty batch") }
        let size = batch.count
        guard size >= options.writeBufferBytes / 8 else {
            return try appendEncoded(size: size, recordCount: recordCount, waitForDurability: waitForDurability) {
                pointer, baseOffset in
                pointer.copyMemory(from: source, byteCount: size)
                pointer.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)
                return maxTimestamp
            }
        }
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        try rollIfNeededLocked(incomingBytes: size, incomingRecords: recordCount)
        // The batches buffered before this one go first: the store stays in offset order.
        try flushLocked()
        let buffer = writer.buffer
        let baseOffset = writer.nextOffset
        source.storeBigEndian(baseOffset, at: BatchLayout.baseOffset)
        let position = buffer.startPosition
        preallocateLocked(through: position + Int64(size))
        do {
            try writer.active.store.write(UnsafeRawBufferPointer(batch), at: position)
        } catch {
            throw fail(error)
        }
        writer.active.noteVerified(position..<position + Int64(size))
        buffer.startPosition += Int64(size)
        return try recordAppendedLocked(
            baseOffset: baseOffset, position: position, size: size, recordCount: recordCount, maxTimestamp: maxTimestamp,
            writtenOut: true, waitForDurability: waitForDurability)
    }

    /// The bookkeeping after a batch went into the write buffer, or was
    /// `writtenOut` to the store: its index entry, the next offset, readers
    /// told, and under `.always` the wait for durability (when asked).
    @inline(__always)
    func recordAppendedLocked(
        baseOffset: Int64, position: Int64, size: Int, recordCount: Int, maxTimestamp: Int64, writtenOut: Bool,
        waitForDurability: Bool
    ) throws -> (offsets: Range<Int64>, sequence: UInt64) {
        writer.active.index.append(
            relativeOffset: UInt32(baseOffset - writer.active.baseOffset), position: position,
            batchMaxTimestamp: maxTimestamp)
        writer.nextOffset = baseOffset + Int64(recordCount)
        writer.writtenSequence += UInt64(size)
        view.withLock { $0.nextOffset = writer.nextOffset }
        // A batch written out is shown to readers as a flush shows it (the buffer is empty: no write).
        if writtenOut || waitingFollowers.load(ordering: .relaxed) > 0 { try flushLocked() }
        let offsets = baseOffset..<writer.nextOffset
        let sequence = writer.writtenSequence
        if waitForDurability, case .always = options.syncPolicy {
            // Releases the lock while syncing: other appends move `nextOffset` on meanwhile.
            try waitUntilDurableLocked(sequence)
        }
        return (offsets, sequence)
    }

    /// Makes everything appended so far durable (flush and `fdatasync`).
    public func sync() throws {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        try waitUntilDurableLocked(writer.writtenSequence)
    }

    /// Writes buffered appends to the store file so readers see them (no fsync).
    public func flush() throws {
        writerLock.lock()
        defer { writerLock.unlock() }
        try checkWritableLocked()
        try flushLocked()
    }

    func checkWritableLocked() throws {
        if isReadOnly { throw LogStoreError(.unavailable, "log was opened read-only", path: directory.string) }
        if writer.closed { throw LogStoreError(.unavailable, "log is closed", path: directory.string) }
        if let failure = writer.failure {
            throw LogStoreError(
                .unavailable, "log stopped accepting writes after an earlier failure; reopen it to recover",
                path: directory.string, underlying: failure)
        }
    }

    /// Records a write or sync failure: nothing more is appended until reopen.
    func fail(_ error: any Error) -> LogStoreError {
        let failure = error as? LogStoreError ?? LogStoreError(.io, "write failed", path: directory.string, underlying: error)
        for waiter in writer.durabilityWaiters { waiter.continuation.resume(throwing: failure) }
        writer.durabilityWaiters = []
        if writer.failure == nil {
            writer.failure = failure
            logger.error("log.write_failed", metadata: ["log.directory": "\(directory)", "error": "\(failure)"])
        }
        return failure
    }

    /// Writes the buffer to the active store and publishes the new end to readers.
    func flushLocked() throws {
        let buffer = writer.buffer
        if buffer.count > 0 {
            preallocateLocked(through: buffer.endPosition)
            do {
                try writer.active.store.write(buffer.bytes, at: buffer.startPosition)
            } catch {
                throw fail(error)
            }
            // Whole batches this process encoded or checked, each with its index entry.
            writer.active.noteVerified(buffer.startPosition..<buffer.endPosition)
            buffer.startPosition += Int64(buffer.count)
            buffer.count = 0
            // One oversized batch grew it; do not keep the memory.
            buffer.shrinkIfEmpty(toCapacity: options.writeBufferBytes, above: options.writeBufferBytes * 4)
        }
        startWritebackIfDueLocked()
        writer.flushedNextOffset = writer.nextOffset
        if case .always = options.syncPolicy {
            // Shown to readers by `syncOnceLocked` once durable.
        } else {
            writer.visibleActive = flushedExtentLocked()
        }
        publishLocked()
    }

    /// The active segment as far as it was written out.
    func flushedExtentLocked() -> SegmentExtent {
        SegmentExtent(
            segment: writer.active, storeSize: writer.flushedSize, indexCount: writer.active.index.count,
            nextOffset: writer.flushedNextOffset)
    }

    /// Hands readers the current segments and the visible end of the active
    /// one, and wakes followers waiting for offsets below it.
    func publishLocked() {
        let active = writer.visibleActive
        let woken: [Waiter] = view.withLock { view in
            view.sealed = writer.sealed
            view.active = active
            view.nextOffset = writer.nextOffset
            guard !view.waiters.isEmpty else { return [] }
            let lowest = view.lowestOffset
            let isReady = { (waiter: Waiter) in waiter.offset < active.nextOffset || waiter.offset < lowest }
            let ready = view.waiters.filter(isReady)
            view.waiters.removeAll(where: isReady)
            return ready
        }
        for waiter in woken { waiter.continuation.resume() }
    }

    /// Group commit: returns once `sequence` bytes are durable. One caller at a
    /// time runs `fdatasync` with the lock released; callers arriving meanwhile
    /// wait and are covered by the next sync, so N appenders cost far fewer
    /// than N syncs.
    ///
    /// A caller covered by the round in progress waits for that round's
    /// broadcast; a later one waits for the next round, whose end wakes only
    /// one of them to lead it. A woken would-be leader that leaves without
    /// leading (durable already, or failed) passes the wakeup on.
    func waitUntilDurableLocked(_ sequence: UInt64) throws {
        var awaitedNextRound: UInt64?
        defer { if let round = awaitedNextRound, !writer.syncInProgress { writerLock.signal(round: round) } }
        while writer.durableSequence < sequence {
            try checkWritableLocked()
            if writer.syncInProgress {
                if sequence <= writer.syncTarget {
                    writerLock.wait(round: writer.syncRound)
                } else {
                    awaitedNextRound = writer.syncRound + 1
                    writerLock.wait(round: writer.syncRound + 1)
                }
            } else {
                awaitedNextRound = nil
                try syncOnceLocked()
            }
        }
    }

    /// One round of group commit: flush, then `fdatasync` without the lock.
    func syncOnceLocked() throws {
        writer.syncInProgress = true
        writer.syncRound += 1
        writer.syncTarget = writer.writtenSequence
        let round = writer.syncRound
        defer {
            writer.syncInProgress = false
            writerLock.broadcast()
            writerLock.broadcast(round: round)
            writerLock.signal(round: round + 1)
        }
        try flushLocked()
        let target = writer.writtenSequence
        let store = writer.active.store
        let flushed = flushedExtentLocked()
        writerLock.unlock()
        let result = Result { try store.syncData() }
        writerLock.lock()
        switch result {
        case .success:
            writer.durableSequence = max(writer.durableSequence, target)
            resumeDurableWaitersLocked()
            // A roll meanwhile published everything itself (it synced the old segment).
            if flushed.segment === writer.active, flushed.nextOffset > writer.visibleActive.nextOffset {
                writer.visibleActive = flushed
                publishLocked()
            }
        case .failure(let error):
            throw fail(error)
        }
    }

    // MARK: Segments

    /// Rolls to a new segment when the incoming batch would not fit the active one.
    func rollIfNeededLocked(incomingBytes: Int, incomingRecords: Int) throws {
        let active = writer.active
        let size = writer.buffer.endPosition
        guard size > 0 else { return }
        let relativeEnd = writer.nextOffset + Int64(incomingRecords) - active.baseOffset
        guard size + Int64(incomingBytes) > options.maxSegmentBytes || active.index.isFull || relativeEnd > Int64(UInt32.max)
        else { return }
        try rollLocked()
    }

    /// Seals the active segment (everything in it made durable, index cut to
    /// size) and starts a new one at the next offset.
    func rollLocked() throws {
        do {
            try flushLocked()
            let old = writer.active
            try old.store.syncData()
            releasePreallocationLocked()
            try old.index.seal()
            let segment = try Segment.create(in: directory, baseOffset: writer.nextOffset, indexBytes: options.maxIndexBytes)
            try FileSystem.syncDirectory(directory)
            writer.sealed.append(
                SegmentExtent(
                    segment: old, storeSize: writer.flushedSize, indexCount: old.index.count, nextOffset: writer.nextOffset))
            writer.active = segment
            writer.buffer.startPosition = 0
            writer.writebackStarted = 0
            writer.durableSequence = writer.writtenSequence
            resumeDurableWaitersLocked()
            writer.visibleActive = flushedExtentLocked()
            publishLocked()
            if case .compact = options.cleanupPolicy { requestBackgroundCompactionLocked() }
            if options.retentionBytes != nil || options.retentionMilliseconds != nil {
                // Retention failing (say, a file someone made undeletable) must not stop appends.
                do {
                    _ = try applyRetentionLocked(now: currentTimeMillis())
                } catch {
                    logger.error("log.retention_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
                }
            }
            logger.debug(
                "log.segment_rolled", metadata: ["log.directory": "\(directory)", "log.base_offset": "\(segment.baseOffset)"])
        } catch {
            throw fail(error)
        }
    }

    // MARK: State

    /// The oldest offset still in the log.
    public var lowestOffset: Int64 { view.withLock { $0.lowestOffset } }

    /// The offset the next appended record will get.
    public var nextOffset: Int64 { view.withLock { $0.nextOffset } }

    /// Closes the log: flushes, syncs, seals the active index and writes the
    /// clean-shutdown marker so the next open skips recovery. Idempotent.
    public func close() throws {
        directoryWatcher.withLock { state in
            if case .watching(let watcher) = state { watcher.stop() }
            state = .unavailable  // none starts after close
        }
        let threads: [pthread_t] = writerLock.withLock {
            let threads = [syncThread, writer.compactionThread].compactMap { $0 }
            syncThread = nil
            writer.compactionThread = nil
            writer.closed = true
            writerLock.broadcast()
            writerLock.broadcast(round: 0)
            writerLock.broadcast(round: 1)
            return threads
        }
        // A background compaction stops at its next segment (it sees the log closed).
        for thread in threads { pthread_join(thread, nil) }
        let waiters: [Waiter] = view.withLock { view in
            view.closed = true
            defer { view.waiters = [] }
            return view.waiters
        }
        for waiter in waiters { waiter.continuation.resume() }

        writerLock.lock()
        defer { writerLock.unlock() }
        guard !writer.lockReleased, let lockFile else { return }
        defer {
            writer.lockReleased = true
            flock(lockFile.descriptor.rawValue, LOCK_UN)
        }
        // After a failure the page cache cannot be trusted: leave no clean
        // marker, so the next open recovers from what is really on disk.
        guard writer.failure == nil else { return }
        let buffer = writer.buffer
        if buffer.count > 0 {
            try writer.active.store.write(buffer.bytes, at: buffer.startPosition)
            buffer.startPosition += Int64(buffer.count)
            buffer.count = 0
        }
        do {
            try writer.active.store.syncData()
        } catch {
            for waiter in writer.durabilityWaiters { waiter.continuation.resume(throwing: error) }
            writer.durabilityWaiters = []
            throw error
        }
        writer.durableSequence = writer.writtenSequence
        resumeDurableWaitersLocked()
        releasePreallocationLocked()
        try writer.active.index.seal()
        let marker = directory.appending(Log.cleanShutdownMarker)
        let file = try OpenFile(path: marker, options: [.create, .truncate])
        try file.syncData()
        try FileSystem.syncDirectory(directory)
    }
}
