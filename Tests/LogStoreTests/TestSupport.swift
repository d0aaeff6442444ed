import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// A fresh temporary directory for one test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let path: FilePath

    /// `inMemory`: in `/dev/shm` when there is one, for tests that open
    /// hundreds of copies of a log, where fsync on a real disk would
    /// dominate the time.
    init(inMemory: Bool = false) throws {
        if inMemory, FileManager.default.fileExists(atPath: "/dev/shm") {
            let base = "/dev/shm/logstore-tests-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            path = FilePath(base)
        } else {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("logstore-tests-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
            path = FilePath(base.path)
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: path.string) }

    func log(_ name: String = "log") -> FilePath { path.appending(name) }
}

/// Seeds for randomized tests: `LOGSTORE_TEST_SEED` reruns one seed.
func testSeeds(_ defaults: [UInt64]) -> [UInt64] {
    if let text = ProcessInfo.processInfo.environment["LOGSTORE_TEST_SEED"], let seed = UInt64(text) { return [seed] }
    return defaults
}

/// The bytes of every regular file of a directory, to rebuild the directory
/// (possibly altered) elsewhere: one crash or corruption case per copy.
struct DirectoryImage {
    var files: [String: [UInt8]]

    init(of directory: FilePath) throws {
        files = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.string) {
            files[name] = try readBytes(directory.appending(name))
        }
    }

    /// Writes the files into a new directory `path` (which must not exist).
    func materialize(at path: FilePath) throws {
        try FileManager.default.createDirectory(atPath: path.string, withIntermediateDirectories: false)
        for (name, bytes) in files {
            try Data(bytes).write(to: URL(fileURLWithPath: path.appending(name).string))
        }
    }

    var storeNames: [String] { files.keys.filter { $0.hasSuffix(".store") }.sorted() }
    var indexNames: [String] { files.keys.filter { $0.hasSuffix(".index") }.sorted() }
}

func readBytes(_ path: FilePath) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path.string)))
}

func writeBytes(_ bytes: [UInt8], to path: FilePath) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path.string))
}

func fileExists(_ path: FilePath) -> Bool { FileManager.default.fileExists(atPath: path.string) }

/// A batch as `Log.append` would write it.
func encodeBatch(_ records: [Record], baseOffset: Int64, now: Int64) -> [UInt8] {
    let size = BatchEncoder.encodedSize(records, now: now)
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        BatchEncoder.encode(records, baseOffset: baseOffset, now: now, size: size, to: base)
    }
    return bytes
}

/// The batch with its length and CRC-32C computed anew after a change:
/// damage below them reaches the decoder (and the decompressor).
func resealed(_ batch: [UInt8]) -> [UInt8] {
    var bytes = batch
    bytes.withUnsafeMutableBytes { raw in
        guard let base = raw.baseAddress else { return }
        base.storeBigEndian(Int32(raw.count - BatchLayout.logOverhead), at: BatchLayout.batchLength)
        base.storeBigEndian(
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[BatchLayout.attributes...])), at: BatchLayout.crc)
    }
    return bytes
}

/// The records of the batch `batch`, or nil when its header does not check
/// out or decoding its records is a `.corruption` error naming the batch or
/// a record in it (any other error is an issue).
func decodedRecords(_ batch: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> [StoredRecord]? {
    batch.withUnsafeBytes { bytes in
        guard case .success(let header) = BatchHeader.decodeAndVerify(bytes) else { return nil }
        var decoded: [StoredRecord] = []
        do {
            try BatchDecoder.forEachRecord(in: bytes, header: header) { record in
                decoded.append(record.stored())
                return true
            }
            return decoded
        } catch let error as LogStoreError {
            #expect(
                error.code == .corruption && error.offset.map { $0 >= header.baseOffset } == true, "\(error)",
                sourceLocation: sourceLocation)
            return nil
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }
}

/// Where each batch of a `.store` image starts, with its header: the
/// batch boundaries a crash or corruption case is judged against.
func batchLayout(of store: [UInt8]) -> [(position: Int, header: BatchHeader)] {
    var batches: [(position: Int, header: BatchHeader)] = []
    var position = 0
    store.withUnsafeBytes { bytes in
        while position < bytes.count,
            case .success(let header) = BatchHeader.decodeAndVerify(UnsafeRawBufferPointer(rebasing: bytes[position...]))
        {
            batches.append((position, header))
            position += header.size
        }
    }
    return batches
}

/// A record with random key, value (either may be nil or empty), headers and
/// timestamp (nil: the time of the append).
func randomRecord(using generator: inout SeededGenerator, maxValueBytes: Int = 300) -> Record {
    func bytes(_ limit: Int) -> [UInt8]? {
        switch Int.random(in: 0..<8, using: &generator) {
        case 0: return nil
        case 1: return []
        default: return generator.bytes(Int.random(in: 0...limit, using: &generator))
        }
    }
    let headerCount = Int.random(in: 0..<4, using: &generator) == 0 ? Int.random(in: 1...3, using: &generator) : 0
    let headers = (0..<headerCount).map { number in
        RecordHeader(key: "h\(number)-\(Int.random(in: 0..<1000, using: &generator))é", value: bytes(20))
    }
    let timestamp: Int64? =
        Bool.random(using: &generator) ? nil : Int64.random(in: 0...4_000_000_000_000, using: &generator)
    return Record(key: bytes(16), value: bytes(maxValueBytes), headers: headers, timestamp: timestamp)
}

/// Whether `stored` is `record` read back at `offset` (a nil timestamp means
/// "the time of the append", which must lie in `appendTime`).
func matches(_ stored: StoredRecord, _ record: Record, offset: Int64, appendTime: ClosedRange<Int64>) -> Bool {
    let timestampOK = record.timestamp.map { $0 == stored.timestamp } ?? appendTime.contains(stored.timestamp)
    return stored.offset == offset && stored.key == record.key && stored.value == record.value
        && stored.headers == record.headers && timestampOK
}

/// Milliseconds since the epoch, as the log stamps appends: its own clock
/// reading. (`Date().timeIntervalSince1970 * 1000` rounded down can come out a
/// millisecond early through the Double, so an append's "after" fell below the
/// stamp it gave: a flake once appends got fast enough to start and end in one millisecond.)
func nowMillis() -> Int64 { currentTimeMillis() }

/// Runs `body`, expecting it to throw a `LogStoreError`; returns it.
@discardableResult
func expectLogStoreError<T>(
    _ code: LogStoreError.Code, _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) -> LogStoreError? {
    do {
        let value = try body()
        Issue.record("expected a \(code) error, got \(value) \(comment())", sourceLocation: sourceLocation)
        return nil
    } catch let error as LogStoreError {
        if error.code != code { Issue.record("expected \(code), got \(error) \(comment())", sourceLocation: sourceLocation) }
        return error
    } catch {
        Issue.record("expected a LogStoreError, got \(error) \(comment())", sourceLocation: sourceLocation)
        return nil
    }
}

/// What a log should hold: every record appended, in offset order, with the
/// time range of its append (for records stamped by the log).
struct LogModel {
    var baseOffset: Int64 = 0
    var records: [Record] = []
    var appendTimes: [ClosedRange<Int64>] = []

    var nextOffset: Int64 { baseOffset + Int64(records.count) }

    /// Appends `batch` to `log` and to the model, checking the offsets it got.
    mutating func append(_ batch: [Record], to log: Log, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = nowMillis()
        let range = try log.append(batch)
        let after = nowMillis()
        #expect(range == nextOffset..<nextOffset + Int64(batch.count), sourceLocation: sourceLocation)
        records += batch
        appendTimes += Array(repeating: before...after, count: batch.count)
    }

    func record(at offset: Int64) -> Record { records[Int(offset - baseOffset)] }
    func appendTime(at offset: Int64) -> ClosedRange<Int64> { appendTimes[Int(offset - baseOffset)] }

    func matches(_ stored: StoredRecord) -> Bool {
        guard stored.offset >= baseOffset, stored.offset < nextOffset else { return false }
        return LogStoreTests.matches(
            stored, record(at: stored.offset), offset: stored.offset, appendTime: appendTime(at: stored.offset))
    }

    /// Keeps only the records below `offset`.
    mutating func truncate(from offset: Int64) {
        records.removeSubrange(Int(offset - baseOffset)...)
        appendTimes.removeSubrange(Int(offset - baseOffset)...)
    }

    /// Checks every offset of `log` three ways (`read(at:)`, `read(from:)`
    /// and `forEachRecord`) against the model.
    func expectLogMatches(
        _ log: Log, from start: Int64? = nil, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let start = start ?? baseOffset
        #expect(log.nextOffset == nextOffset, "\(comment)", sourceLocation: sourceLocation)
        for offset in start..<nextOffset {
            let stored = try log.read(at: offset)
            #expect(matches(stored), "offset \(offset) \(comment)", sourceLocation: sourceLocation)
        }
        let all = try log.read(from: start, maxRecords: Int.max, maxBytes: Int.max)
        #expect(all.count == Int(nextOffset - start), "read(from:) count \(comment)", sourceLocation: sourceLocation)
        #expect(
            all.enumerated().allSatisfy { $0.element.offset == start + Int64($0.offset) && matches($0.element) },
            "read(from:) \(comment)", sourceLocation: sourceLocation)
        var expected = start
        var good = true
        let end = try log.forEachRecord(from: start, maxBytes: Int.max) { view in
            let stored = view.stored()
            if stored.offset != expected || !matches(stored) { good = false }
            expected += 1
            return true
        }
        #expect(good && end == nextOffset && expected == nextOffset, "forEachRecord \(comment)", sourceLocation: sourceLocation)
        if start < nextOffset {
            // Small reads that stop mid-log resume where they stopped.
            var offset = start
            var chunks = 0
            while offset < nextOffset && chunks < 10_000 {
                let chunk = try log.read(from: offset, maxRecords: 3, maxBytes: 1)
                guard let last = chunk.last else { break }
                #expect(
                    chunk.first?.offset == offset && chunk.allSatisfy(matches), "chunked read at \(offset) \(comment)",
                    sourceLocation: sourceLocation)
                offset = last.offset + 1
                chunks += 1
            }
            #expect(offset == nextOffset, "chunked reads ended at \(offset) \(comment)", sourceLocation: sourceLocation)
        }
    }
}
