import SystemPackage
import Testing

@testable import LogStore

#if canImport(Glibc)
import Glibc
#endif

/// `Log.locateRecordBatches`: where the batches a fetch would read lie in the
/// store files, handed out only once this process has checked them, so that a
/// server sends them unread (sendfile) without ever sending damage.
@Suite struct LocateBatchesTests {
    /// What `readRecordBatches` passes, joined.
    static func read(_ log: Log, from offset: Int64, maxBytes: Int, firstAlways: Bool = true, end: Int64? = nil) throws
        -> [UInt8]
    {
        var bytes: [UInt8] = []
        try log.readRecordBatches(from: offset, maxBytes: maxBytes, firstAlways: firstAlways, end: end) {
            bytes.append(contentsOf: $0)
        }
        return bytes
    }

    /// The bytes of the runs, read from their descriptors, which are closed.
    static func bytes(of runs: [StoredBatchRun]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for run in runs {
            defer { try? run.descriptor.close() }
            var chunk = [UInt8](repeating: 0, count: run.byteCount)
            let read = try chunk.withUnsafeMutableBytes { try run.descriptor.read(fromAbsoluteOffset: run.position, into: $0) }
            #expect(read == run.byteCount)
            bytes += chunk
        }
        return bytes
    }

    /// 40 batches of 1-3 records over several segments.
    static func fill(_ log: Log, from first: Int = 0) throws {
        for batch in first..<first + 40 {
            let value = String(repeating: "v\(batch)", count: 30 + batch % 7)
            try log.append((0...(batch % 3)).map { Record(key: Array("k\($0)".utf8), value: Array(value.utf8)) })
        }
    }

    /// A log of `fill`'s batches, closed cleanly.
    static func fillAndClose(_ path: FilePath, options: LogOptions = LogOptions(syncPolicy: .never)) throws {
        let log = try Log.open(directory: path, options: options)
        try fill(log)
        try log.close()
    }

    /// Each batch of a store's bytes: where it starts, its size and base offset.
    static func batches(in store: [UInt8]) -> [(position: Int, size: Int, baseOffset: Int64)] {
        var batches: [(position: Int, size: Int, baseOffset: Int64)] = []
        var position = 0
        while position + 12 <= store.count {
            let base = store[position..<position + 8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
            let length = store[position + 8..<position + 12].reduce(0) { $0 << 8 | Int($1) }
            batches.append((position, 12 + length, base))
            position += 12 + length
        }
        return batches
    }

    static let options = LogOptions(maxSegmentBytes: 4096, syncPolicy: .never)

    @Test("batches this process appended are located at once, the same bytes as a read for every selection")
    func appendedBatchesAreLocatedAsTheyWouldBeRead() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        try Self.fill(log)
        let end = log.nextOffset
        var located = 0
        for offset in stride(from: Int64(0), to: end, by: 3) {
            for maxBytes in [1, 300, 2000, 9000] {
                for firstAlways in [true, false] {
                    for stop in [nil, offset + 5] as [Int64?] {
                        let runs = try #require(
                            try log.locateRecordBatches(from: offset, maxBytes: maxBytes, firstAlways: firstAlways, end: stop),
                            "offset \(offset): appended here, so checked")
                        let expected = try Self.read(log, from: offset, maxBytes: maxBytes, firstAlways: firstAlways, end: stop)
                        #expect(
                            try Self.bytes(of: runs) == expected,
                            "offset \(offset), maxBytes \(maxBytes), firstAlways \(firstAlways), end \(stop.map(String.init) ?? "-")"
                        )
                        if runs.count > 1 { located += 1 }
                    }
                }
            }
        }
        #expect(located > 0, "some selections span two segments")
        #expect(try log.locateRecordBatches(from: end, maxBytes: 1 << 20)?.isEmpty == true, "nothing at the next offset")
        #expect(throws: LogStoreError.self) { try log.locateRecordBatches(from: end + 1, maxBytes: 1 << 20) }
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test("after a reopen, old batches are located only once a read checked them; new appends at once; a read-only log never")
    func reopenedBatchesAreLocatedOnceRead() throws {
        let directory = try TemporaryDirectory()
        try Self.fillAndClose(directory.log(), options: Self.options)
        let log = try Log.open(directory: directory.log(), options: Self.options)
        let oldEnd = log.nextOffset
        #expect(try log.locateRecordBatches(from: 10, maxBytes: 1000) == nil, "not checked by this process yet")
        let expected = try Self.read(log, from: 10, maxBytes: 1000)
        let runs = try #require(try log.locateRecordBatches(from: 10, maxBytes: 1000), "checked by the read")
        #expect(try Self.bytes(of: runs) == expected)
        #expect(try log.locateRecordBatches(from: 10, maxBytes: 100_000) == nil, "beyond what the read checked")
        try Self.fill(log, from: 40)
        let fresh = try #require(try log.locateRecordBatches(from: oldEnd, maxBytes: 1 << 20), "appended by this process")
        #expect(try Self.bytes(of: fresh) == (try Self.read(log, from: oldEnd, maxBytes: 1 << 20)))
        // A read of everything checks everything.
        let all = try Self.read(log, from: 0, maxBytes: 1 << 20)
        #expect(try Self.bytes(of: try #require(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20))) == all)

        let reader = try Log.openForReading(directory: directory.log())
        _ = try Self.read(reader, from: 0, maxBytes: 1 << 20)
        #expect(try reader.locateRecordBatches(from: 0, maxBytes: 1 << 20) == nil, "another process writes it and may cut it")
        try reader.close()
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test("a damaged batch is never located: the read reports it, the batches before it are located, none from it on")
    func damageIsNeverLocated() throws {
        let directory = try TemporaryDirectory()
        try Self.fillAndClose(directory.log())
        // A byte of the 21st batch's records flipped.
        let store = directory.log().appending(Segment.fileName(baseOffset: 0, suffix: "store"))
        var bytes = try readBytes(store)
        let batches = Self.batches(in: bytes)
        let damaged = batches[20]
        bytes[damaged.position + damaged.size - 3] ^= 0x40
        try writeBytes(bytes, to: store)

        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        let error = #expect(throws: LogStoreError.self) { _ = try Self.read(log, from: 0, maxBytes: 1 << 20) }
        #expect(error?.code == .corruption)
        let before = try #require(
            try log.locateRecordBatches(from: 0, maxBytes: damaged.position), "the batches checked before the damage")
        #expect(try Self.bytes(of: before).count == damaged.position)
        for offset in [0, damaged.baseOffset, damaged.baseOffset + 1] {
            #expect(try log.locateRecordBatches(from: offset, maxBytes: 1 << 20) == nil, "offset \(offset)")
        }
        #expect(throws: LogStoreError.self) { _ = try Self.read(log, from: damaged.baseOffset, maxBytes: 1 << 20) }
        #expect(try log.locateRecordBatches(from: damaged.baseOffset, maxBytes: 1 << 20) == nil)
        try log.close()
    }

    @Test("an index entry that disagrees with its batch keeps the batch unlocated, though its CRC passes")
    func aWrongIndexEntryIsNeverLocated() throws {
        let directory = try TemporaryDirectory()
        try Self.fillAndClose(directory.log())
        // The 11th entry's position moved 8 bytes on: inside its batch.
        let index = directory.log().appending(Segment.fileName(baseOffset: 0, suffix: "index"))
        var bytes = try readBytes(index)
        let at = 10 * IndexLayout.entrySize + IndexLayout.position
        let position = bytes[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) } + 8  // little-endian
        for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: position >> (8 * UInt64(i))) }
        try writeBytes(bytes, to: index)

        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        #expect(log.snapshot().extents[0].segment.index.entry(10).position == Int64(position), "the clean stop's index is kept")
        _ = try Self.read(log, from: 0, maxBytes: 1 << 20)  // reads on through the batches, past the entry
        #expect(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20) == nil, "the run holds the wrong entry")
        let entry = log.snapshot().extents[0].segment.index.entry(10)
        let offset = Int64(entry.relativeOffset)
        #expect(try log.locateRecordBatches(from: offset, maxBytes: 1 << 20) == nil)
        #expect(try log.locateRecordBatches(from: 0, maxBytes: 1) != nil, "the first batch, before the entry, is located")
        try log.close()
    }

    @Test("a truncation forgets what was checked past the cut; what is appended after it is located")
    func truncationForgetsPastTheCut() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try Self.fill(log)
        try log.truncate(from: 20)
        #expect(try log.locateRecordBatches(from: 20, maxBytes: 1 << 20)?.isEmpty == true)
        try log.append([Record("after the cut")])
        let runs = try #require(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20))
        #expect(try Self.bytes(of: runs) == (try Self.read(log, from: 0, maxBytes: 1 << 20)))
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test("batches out of the page cache are not located (a send would wait for the disk); the read brings them back")
    func batchesOutOfThePageCacheAreRead() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try Self.fill(log)
        try log.sync()
        let store = log.snapshot().extents[0].segment.store
        let size = try store.size()
        #expect(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20) != nil, "written here, cached")
        #expect(PageCache.isResident(store.descriptor, 0..<size))
        // Synced, so clean: DONTNEED drops the pages (on a disk file system; tmpfs would keep them).
        #expect(posix_fadvise(store.descriptor.rawValue, 0, 0, POSIX_FADV_DONTNEED) == 0)
        try #require(
            !PageCache.isResident(store.descriptor, 0..<size), "posix_fadvise(DONTNEED) evicts here: the test needs a disk")
        #expect(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20) == nil)
        let expected = try Self.read(log, from: 0, maxBytes: 1 << 20)
        #expect(PageCache.isResident(store.descriptor, 0..<size))
        #expect(try Self.bytes(of: try #require(try log.locateRecordBatches(from: 0, maxBytes: 1 << 20))) == expected)
        #expect(PageCache.isResident(store.descriptor, 0..<0) && PageCache.isResident(store.descriptor, 10..<11))
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test("checked ranges merge when they touch, stay few, and a cut forgets what lies past it")
    func verifiedRanges() {
        var ranges = VerifiedRanges()
        ranges.insert(10..<20)
        ranges.insert(30..<40)
        ranges.insert(20..<30)
        #expect(ranges.ranges == [10..<40])
        ranges.insert(50..<60)
        ranges.insert(0..<5)
        #expect(ranges.ranges == [0..<5, 10..<40, 50..<60])
        #expect(ranges.contains(12..<39) && !ranges.contains(5..<12) && !ranges.contains(35..<55))
        ranges.insert(4..<52)
        #expect(ranges.ranges == [0..<60])
        ranges.removeAll(from: 25)
        #expect(ranges.ranges == [0..<25])
        for i in 0..<20 { ranges.insert(Int64(100 + 10 * i)..<Int64(105 + 10 * i)) }
        #expect(ranges.ranges.count == VerifiedRanges.limit)
        #expect(ranges.contains(290..<295), "the newest is kept")
    }
}
