import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a line of text becomes a record (`logd append`; kcat's `-K` and `-Z`).
public struct LineRecordFormat: Sendable {
    /// Splits each line at the first occurrence into key and value; a line
    /// without it has no key. Nil: the line is the value.
    public var keySeparator: [UInt8]?
    /// The key of every record when there is no `keySeparator`.
    public var key: [UInt8]?
    /// An empty value becomes a tombstone (null value), an empty key no key.
    public var emptyAsNull: Bool
    /// The headers of every record.
    public var headers: EncodedRecordHeaders

    /// - Parameters: as the properties; `keySeparator` must not be empty.
    public init(keySeparator: [UInt8]? = nil, key: [UInt8]? = nil, emptyAsNull: Bool = false, headers: [RecordHeader] = []) {
        precondition(keySeparator?.isEmpty != true, "an empty key separator")
        self.keySeparator = keySeparator
        self.key = key
        self.emptyAsNull = emptyAsNull
        self.headers = EncodedRecordHeaders(headers)
    }

    /// Adds the record of `line` (without its newline) to `batch`, copying
    /// its bytes straight into the batch.
    /// - Throws: what `RecordBatchBuffer.append` throws.
    public func append(line: UnsafeRawBufferPointer, to batch: RecordBatchBuffer) throws {
        if let keySeparator {
            let split = keySeparator.withUnsafeBytes { Self.firstRange(of: $0, in: line) }
            guard let split else { return try add(key: nil, value: line, to: batch) }
            try add(
                key: UnsafeRawBufferPointer(rebasing: line[..<split.lowerBound]),
                value: UnsafeRawBufferPointer(rebasing: line[split.upperBound...]), to: batch)
        } else if let key {
            try key.withUnsafeBytes { try add(key: $0, value: line, to: batch) }
        } else {
            try add(key: nil, value: line, to: batch)
        }
    }

    @inline(__always)
    private func add(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, to batch: RecordBatchBuffer) throws {
        if emptyAsNull {
            try batch.append(key: key?.isEmpty == true ? nil : key, value: value.isEmpty ? nil : value, headers: headers)
        } else {
            try batch.append(key: key, value: value, headers: headers)
        }
    }

    /// Where `separator` first occurs in `line` (memchr for one byte, memmem for more).
    static func firstRange(of separator: UnsafeRawBufferPointer, in line: UnsafeRawBufferPointer) -> Range<Int>? {
        guard let base = line.baseAddress, let needle = separator.baseAddress, line.count >= separator.count else {
            return nil
        }
        // memchr for the first byte, then compare the rest (Glibc's memmem is a GNU extension Swift does not see).
        let lastStart = line.count - separator.count
        var start = 0
        while start <= lastStart {
            guard let found = memchr(base + start, Int32(separator[0]), lastStart - start + 1) else { return nil }
            start = UnsafeRawPointer(found) - base
            if memcmp(base + start, needle, separator.count) == 0 { return start..<start + separator.count }
            start += 1
        }
        return nil
    }
}

extension Log {
    /// Batches of lines close once they reach this size (they may hold a
    /// line more); a read's worth of lines is usually less.
    static let lineBatchTargetBytes = 8 << 20

    /// Appends each line read from `descriptor` up to its end as a record
    /// made by `format`; a last line without a newline counts, an empty input
    /// appends nothing.
    ///
    /// Lines are found in place in reused buffers and their bytes copied
    /// straight into the batch (`RecordBatchBuffer`), with no allocation per
    /// line. The lines of one read are appended as one batch, so lines typed
    /// or piped in together are stored together.
    ///
    /// From a pipe, a terminal or a socket, a thread of its own reads while
    /// this one appends (they overlap: the writer on the other side may be
    /// slow), and whenever the reader has nothing more yet, what was
    /// appended is written out (`flush`) so that readers see it, also in
    /// other processes. From a regular file, this thread reads too (and
    /// flushes at the end of the file): a read
    /// then only copies from the page cache, and a chunk kept on one core
    /// from the read through the encoding to the write costs less CPU than
    /// handing it across.
    ///
    /// - Parameters:
    ///   - appended: called with each batch's offsets once it is appended
    ///     (under `SyncPolicy.always`, once it is durable).
    /// - Throws: `LogStoreError` (`.io` when reading fails, `.invalidArgument`
    ///   for a line too large for one batch, and what `append` throws), or
    ///   what `appended` throws; the lines before the failure stay appended.
    public func appendLines(
        from descriptor: FileDescriptor, format: LineRecordFormat, appended: (Range<Int64>) throws -> Void
    ) throws {
        let batch = RecordBatchBuffer(capacity: LineChunk.readBytes + (64 << 10))
        let extraBytesPerLine = format.headers.bytes.count + (format.key?.count ?? 0) + 32
        func appendLines(of chunk: LineChunk) throws {
            if format.keySeparator == nil, format.key == nil {
                // Values only: the batch takes the lines in one loop.
                var rest = UnsafeRawBufferPointer(start: chunk.pointer, count: chunk.linesEnd)
                while !rest.isEmpty {
                    let used = try format.headers.bytes.withUnsafeBytes { headers in
                        try batch.appendLines(
                            rest, encodedHeaders: headers, emptyAsNull: format.emptyAsNull, limit: Self.lineBatchTargetBytes)
                    }
                    rest = UnsafeRawBufferPointer(rebasing: rest[used...])
                    if !rest.isEmpty { try appended(append(batch)) }
                }
            } else {
                try chunk.forEachLine { line in
                    if !batch.isEmpty, batch.byteCount + line.count + extraBytesPerLine > Self.lineBatchTargetBytes {
                        try appended(append(batch))
                    }
                    try format.append(line: line, to: batch)
                }
            }
            if !batch.isEmpty { try appended(append(batch)) }
        }
        guard !FileSystem.isRegularFile(descriptor.rawValue) else {
            // A file's bytes are in reach at once: reading them on this thread costs the copy alone, and
            // each chunk stays in this core's cache from the read through the encoding to the write.
            let chunk = LineChunk(capacity: LineChunk.readBytes)
            while true {
                let read = try chunk.readMore(from: descriptor.rawValue)
                guard read != .partialLine else { continue }
                try appendLines(of: chunk)
                guard read == .lines else { return try flush() }
                chunk.moveUnfinishedLine(to: chunk)
            }
        }
        let reader = try LineChunkReader(descriptor: descriptor.rawValue)
        defer { reader.stop() }
        while let chunk = try reader.next() {
            do {
                try appendLines(of: chunk)
            } catch {
                reader.recycle(chunk)
                throw error
            }
            reader.recycle(chunk)
            if !reader.hasReadyChunk { try flush() }
        }
    }
}

/// A buffer of bytes read: the lines up to `linesEnd`, then the start of a
/// line the next read continues.
final class LineChunk {
    /// Bytes a chunk reads at most at once (it grows for a longer line).
    static let readBytes = 1 << 20

    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0
    var linesEnd = 0

    init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { pointer.deallocate() }

    /// What a `readMore` brought.
    enum ReadResult {
        /// Whole lines, up to `linesEnd`.
        case lines
        /// No newline yet (or no bytes, for a descriptor that would block).
        case partialLine
        /// The end of the input: everything read is lines (the last one may lack its newline).
        case end
    }

    /// Reads once from `descriptor` after the bytes held, growing the chunk
    /// when it is full without a newline.
    /// - Throws: `LogStoreError` (`.io` when reading fails, `.invalidArgument`
    ///   for a line too large for one batch).
    func readMore(from descriptor: Int32) throws(LogStoreError) -> ReadResult {
        if count == capacity {
            // No newline in a full chunk: one line longer than it.
            guard capacity <= BatchLayout.maxBatchSize else {
                throw LogStoreError(
                    .invalidArgument,
                    "a line of more than \(capacity) bytes does not fit in one batch (limit \(BatchLayout.maxBatchSize) bytes)")
            }
            grow(to: capacity * 2)
        }
        while true {
            let bytesRead = read(descriptor, pointer + count, capacity - count)
            if bytesRead < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return .partialLine }
                throw LogStoreError(.io, "cannot read the lines to append", underlying: Errno(rawValue: errno))
            }
            if bytesRead == 0 {
                linesEnd = count
                return .end
            }
            let newline = Self.lastNewline(in: pointer, from: count, to: count + bytesRead)
            count += bytesRead
            guard let newline else { return .partialLine }
            linesEnd = newline + 1
            return .lines
        }
    }

    /// Moves the unfinished line after `linesEnd` to the start of `chunk`
    /// (this chunk itself too: `copyMemory` allows the overlap), which then holds it alone.
    func moveUnfinishedLine(to chunk: LineChunk) {
        let rest = count - linesEnd
        if chunk.capacity < rest { chunk.grow(to: max(rest, chunk.capacity * 2)) }
        chunk.pointer.copyMemory(from: pointer + linesEnd, byteCount: rest)
        chunk.count = rest
        chunk.linesEnd = 0
    }

    private func grow(to newCapacity: Int) {
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 64)
        grown.copyMemory(from: pointer, byteCount: count)
        pointer.deallocate()
        pointer = grown
        capacity = newCapacity
    }

    /// Calls `body` with each line of `0..<linesEnd` without its "\n";
    /// a last piece without one is a line too, unless empty.
    func forEachLine(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var start = 0
        while start < linesEnd {
            let rest = linesEnd - start
            guard let newline = memchr(pointer + start, Int32(UInt8(ascii: "\n")), rest) else {
                try body(UnsafeRawBufferPointer(start: pointer + start, count: rest))
                return
            }
            let end = UnsafeRawPointer(newline) - UnsafeRawPointer(pointer)
            try body(UnsafeRawBufferPointer(start: pointer + start, count: end - start))
            start = end + 1
        }
    }

    /// The position of the last "\n" in `start..<end` of `bytes` (memrchr, a GNU extension Swift does not see).
    private static func lastNewline(in bytes: UnsafeMutableRawPointer, from start: Int, to end: Int) -> Int? {
        var index = end - 1
        while index >= start {
            if bytes.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: "\n") { return index }
            index -= 1
        }
        return nil
    }
}

/// Lines read from a descriptor on a thread of its own, handed over a chunk
/// of whole lines at a time through a few reused buffers (`Log.appendLines`).
final class LineChunkReader: @unchecked Sendable {
    // @unchecked: `free`, `ready`, `ended`, `failure` and `stopped` are
    // guarded by `lock`; a chunk belongs to one thread at a time, handed over under it.

    static let chunkCount = 3

    private let descriptor: Int32
    /// Written to by `stop`, so that a reader waiting for input wakes up.
    private let stopPipe: (read: Int32, write: Int32)
    private let lock = ConditionLock()
    private var free: [LineChunk]
    private var ready: [LineChunk] = []
    private var ended = false
    private var failure: LogStoreError?
    private var stopped = false
    private var thread: pthread_t?

    init(descriptor: Int32) throws {
        self.descriptor = descriptor
        stopPipe = try FileSystem.makePipe()
        free = (0..<Self.chunkCount).map { _ in LineChunk(capacity: LineChunk.readBytes) }
        do {
            thread = try startThread { [self] in self.run() }
        } catch {
            close(stopPipe.read)
            close(stopPipe.write)
            throw error
        }
    }

    /// Stops the reading thread (also when it waits for input) and waits for it.
    func stop() {
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        close(stopPipe.read)
        close(stopPipe.write)
    }

    /// The next chunk of lines, waiting for it; nil at the end of input.
    /// - Throws: the reading thread's failure, once the chunks before it are taken.
    func next() throws -> LineChunk? {
        try lock.withLock {
            while ready.isEmpty && !ended && failure == nil { lock.wait() }
            if !ready.isEmpty { return ready.removeFirst() }
            if let failure { throw failure }
            return nil
        }
    }

    /// Gives a chunk taken with `next` back to the reading thread.
    func recycle(_ chunk: LineChunk) {
        lock.withLock {
            free.append(chunk)
            lock.broadcast()
        }
    }

    /// Whether a chunk is waiting to be taken.
    var hasReadyChunk: Bool { lock.withLock { !ready.isEmpty } }

    /// The reading thread: fills a chunk, hands over its whole lines and
    /// moves the unfinished last line to the next chunk.
    private func run() {
        guard var current = takeFree() else { return }
        while true {
            guard waitForInput() else { return }
            let read: LineChunk.ReadResult
            do {
                read = try current.readMore(from: descriptor)
            } catch {
                return finish(failure: error)
            }
            switch read {
            case .partialLine: continue
            case .end: return finish(last: current.count > 0 ? current : nil)
            case .lines:
                guard let next = takeFree() else { return }
                current.moveUnfinishedLine(to: next)
                lock.withLock {
                    ready.append(current)
                    lock.broadcast()
                }
                current = next
            }
        }
    }

    /// A free chunk, emptied; nil once stopped.
    private func takeFree() -> LineChunk? {
        lock.withLock {
            while free.isEmpty && !stopped { lock.wait() }
            guard !stopped else { return nil }
            let chunk = free.removeLast()
            chunk.count = 0
            chunk.linesEnd = 0
            return chunk
        }
    }

    /// Waits until the descriptor has input (or its end); false once stopped.
    private func waitForInput() -> Bool {
        var descriptors = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0),
        ]
        while poll(&descriptors, 2, -1) < 0 {
            // Not a descriptor poll takes: read tells what is wrong with it.
            if errno != EINTR { return true }
        }
        return descriptors[1].revents == 0
    }

    private func finish(last: LineChunk? = nil, failure: LogStoreError? = nil) {
        lock.withLock {
            if let last { ready.append(last) }
            self.failure = failure
            ended = true
            lock.broadcast()
        }
    }
}
