import Foundation
import Synchronization
import SystemPackage
import Testing

@testable import LogStore

/// Key compaction (`Log.compact`): the latest record per key survives,
/// offsets never change, tombstones go after their retention, and an
/// interrupted compaction is finished or rolled back by the next open.
@Suite struct CompactionTests {
    static func options(compression: Compression = .none, deleteRetention: Int64 = 86_400_000) -> LogOptions {
        var options = LogOptions(maxSegmentBytes: 2048, maxIndexBytes: 4096, syncPolicy: .never, writeBufferBytes: 4096)
        options.compression = compression
        options.deleteRetentionMilliseconds = deleteRetention
        return options
    }

    /// Everything ever appended, by offset, and each key's latest value (nil: deleted).
    struct KeyedModel {
        var appended: [StoredRecord] = []
        var latest: [[UInt8]: [UInt8]?] = [:]

        mutating func append(_ records: [Record], to log: Log) throws {
            recordAppended(records, at: try log.append(records))
        }

        /// Records `records`, appended at `offsets` (by `append` or elsewhere: `appendRecordBatch`).
        mutating func recordAppended(_ records: [Record], at offsets: Range<Int64>) {
            for (offset, record) in zip(offsets, records) {
                appended.append(
                    StoredRecord(
                        offset: offset, timestamp: record.timestamp ?? 0, key: record.key, value: record.value,
                        headers: record.headers))
                if let key = record.key { latest[key] = .some(record.value) }
            }
        }

        /// Reads the whole log and checks it against the model: every record is
        /// the one appended at its offset, each key's last record carries its
        /// latest value, a deleted key has no record or a tombstone last, and
        /// no key appears twice below `uniqueBelow`.
        func check(_ log: Log, uniqueBelow: Int64, tombstonesGone: Bool, _ comment: String) throws {
            let records = try log.read(from: log.lowestOffset, maxRecords: Int.max, maxBytes: Int.max)
            var last: [[UInt8]: [UInt8]?] = [:]
            var seenBelow = Set<[UInt8]>()
            for record in records {
                let original = appended[Int(record.offset)]
                #expect(
                    record.key == original.key && record.value == original.value && record.headers == original.headers,
                    "\(comment): offset \(record.offset) changed")
                guard let key = record.key else { continue }
                last[key] = .some(record.value)
                if record.offset < uniqueBelow {
                    #expect(seenBelow.insert(key).inserted, "\(comment): key \(key) twice below \(uniqueBelow)")
                }
            }
            for (key, value) in latest {
                if let value {
                    #expect(last[key] == .some(value), "\(comment): key \(key) latest value")
                } else if tombstonesGone {
                    #expect(last[key] == nil || last[key] == .some(nil), "\(comment): deleted key \(key) came back")
                } else {
                    #expect(last[key] == .some(nil), "\(comment): deleted key \(key) lost its tombstone")
                }
            }
            #expect(Set(last.keys).isSubset(of: Set(latest.keys)), "\(comment): a key that was never appended")
            let keyless = appended.filter { $0.key == nil }.map(\.offset)
            #expect(Set(keyless).isSubset(of: Set(records.map(\.offset))), "\(comment): a record without a key went")
        }
    }

    static func randomBatch(_ generator: inout SeededGenerator, keys: Int, timestamp: Int64) -> [Record] {
        (0..<Int.random(in: 1...6, using: &generator)).map { _ in
            let roll = Int.random(in: 0..<20, using: &generator)
            let key = roll == 0 ? nil : Array("key-\(Int.random(in: 0..<keys, using: &generator))".utf8)
            let value: [UInt8]? = roll < 4 && key != nil ? nil : generator.bytes(Int.random(in: 0...60, using: &generator))
            let headers = roll == 5 ? [RecordHeader("h", "\(roll)")] : []
            return Record(key: key, value: value, headers: headers, timestamp: timestamp)
        }
    }

    @Test(arguments: testSeeds([1, 2, 3, 4]))
    func compactedLogHoldsEveryKeysLatestValue(seed: UInt64) throws {
        let directory = try TemporaryDirectory()
        var generator = SeededGenerator(seed: seed)
        let compression: Compression = seed % 2 == 0 ? .gzip(level: 1) : .none
        var log = try Log.open(directory: directory.log(), options: Self.options(compression: compression))
        defer { try? log.close() }
        var model = KeyedModel()
        let keys = [5, 40, 300][Int(seed % 3)]
        let timestamp: Int64 = 1_000_000
        for round in 0..<6 {
            for _ in 0..<Int.random(in: 20...80, using: &generator) {
                try model.append(Self.randomBatch(&generator, keys: keys, timestamp: timestamp + Int64(round)), to: log)
            }
            // A small key map forces several passes; tombstones are young (retained).
            let capacity = [1, 7, 64, 100_000][Int.random(in: 0..<4, using: &generator)]
            let report = try log.compact(now: timestamp + 10, keyMapCapacity: capacity)
            let activeBase = try #require(log.segments().last).baseOffset
            try model.check(
                log, uniqueBelow: activeBase, tombstonesGone: false, "seed \(seed) round \(round) capacity \(capacity)")
            #expect(report.recordsAfter <= report.recordsBefore)
            if round == 3 {
                try log.close()
                #expect(try Log.verify(directory: directory.log()).isClean)
                log = try Log.open(directory: directory.log(), options: Self.options(compression: compression))
                try model.check(log, uniqueBelow: activeBase, tombstonesGone: false, "seed \(seed) after reopen")
            }
        }
        // Past delete retention the tombstones in sealed segments go, and the keys they deleted with them.
        let report = try log.compact(now: timestamp + 86_400_000 + 100, keyMapCapacity: 16)
        let activeBase = try #require(log.segments().last).baseOffset
        try model.check(log, uniqueBelow: activeBase, tombstonesGone: true, "seed \(seed) tombstones expired")
        let sealedTombstones = try log.read(from: log.lowestOffset, maxRecords: Int.max, maxBytes: Int.max)
            .filter { $0.offset < activeBase && $0.key != nil && $0.value == nil }
        #expect(sealedTombstones.isEmpty, "seed \(seed): \(sealedTombstones.count) expired tombstones left")
        #expect(report.tombstonesRemoved > 0 || model.latest.values.allSatisfy { $0 != nil })
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
        let reader = try Log.openForReading(directory: directory.log())
        try model.check(reader, uniqueBelow: activeBase, tombstonesGone: true, "seed \(seed) read-only opener")
    }

    @Test func offsetsArePreservedAndARemovedOffsetReadsAsTheNext() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options())
        defer { try? log.close() }
        for round in 0..<30 {
            try log.append([Record("v\(round)-a", key: "a"), Record("v\(round)-b", key: "b"), Record("keyless-\(round)")])
        }
        let before = log.nextOffset
        let report = try log.compact()
        #expect(report.segmentsRewritten > 0 && report.recordsAfter < report.recordsBefore, "\(report)")
        #expect(log.nextOffset == before && log.lowestOffset == 0)
        // Offset 0 ("v0-a") is gone: the next record left is the keyless one at offset 2.
        #expect(try log.read(at: 0).offset == 2)
        #expect(try log.read(at: 2).value == Array("keyless-0".utf8))
        #expect(try log.read(at: 1).offset == 2)
        let last = try log.read(from: 87, maxRecords: 10)
        #expect(last.map(\.offset) == [87, 88, 89])
        // Appends continue at the same offset.
        #expect(try log.append(Record("after")) == before)
        // A consumer and a follower walk over the holes.
        let consumer = try Consumer(log: log, group: "g", resetPolicy: .earliest)
        var polled: [StoredRecord] = []
        for _ in 0..<1000 where consumer.position < log.nextOffset {
            polled += try consumer.poll(maxRecords: 7, maxBytes: 1)
        }
        #expect(polled.map(\.offset) == (try log.read(from: 0, maxRecords: Int.max, maxBytes: Int.max)).map(\.offset))
    }

    @Test func segmentsWithKafkaTransactionsAreKeptWholeAndTheirRecordsSupersedeNothing() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options())
        defer { try? log.close() }
        try log.append(Record("committed", key: "k"))
        // A transactional batch of producer 3 with a newer value of k, then its abort marker.
        let record = Record(key: Array("k".utf8), value: Array("aborted".utf8), timestamp: 1_700_000_000_000)
        let size = BatchEncoder.encodedSize([record], now: 0)
        var batch = [UInt8](repeating: 0, count: size)
        batch.withUnsafeMutableBytes { raw in
            let pointer = raw.baseAddress!
            BatchEncoder.encode([record], baseOffset: 0, now: 0, size: size, to: pointer)
            pointer.storeBigEndian(BatchLayout.transactional, at: BatchLayout.attributes)
            pointer.storeBigEndian(Int64(3), at: BatchLayout.producerId)
            pointer.storeBigEndian(Int16(0), at: BatchLayout.producerEpoch)
            pointer.storeBigEndian(Int32(0), at: BatchLayout.baseSequence)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[BatchLayout.attributes...]))
            pointer.storeBigEndian(crc, at: BatchLayout.crc)
        }
        #expect(try batch.withUnsafeBytes { try log.appendRecordBatch($0) }.offsets == 1..<2)
        #expect(try log.appendTransactionMarker(.abort, producerID: 3, epoch: 0).offsets == 2..<3)
        for round in 0..<60 { try log.append(Record(String(repeating: "x", count: 40), key: "other-\(round % 3)")) }
        let transactionSegment = try #require(try log.segments().first)
        #expect(try log.segments().count > 2)

        try log.compact()
        // The aborted value hid nothing, and its segment still holds the producer's batch and the marker.
        #expect(try log.read(at: 0).value == Array("committed".utf8))
        var summaries: [RecordBatchSummary] = []
        try log.readRecordBatches(from: 0, maxBytes: 1 << 20) { summaries.append(RecordBatchSummary(batch: $0)!) }
        #expect(summaries.contains { $0.isTransactional && $0.producer?.producerID == 3 && $0.offsets == 1..<2 })
        #expect(summaries.contains { $0.marker == .abort && $0.offsets == 2..<3 })
        #expect(try log.segments().first?.storeBytes == transactionSegment.storeBytes, "left as it was")
        // Readers of records skip the marker; the other keys were compacted.
        #expect(try log.read(from: 0, maxRecords: 3).map(\.offset) == [0, 1, 3])
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func emptiedSegmentsKeepTheirOffsets() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options())
        defer { try? log.close() }
        for round in 0..<200 { try log.append(Record(String(repeating: "x", count: 40) + "\(round)", key: "only")) }
        let segments = try log.segments()
        try log.compact()
        let after = try log.segments()
        #expect(after.map(\.baseOffset) == segments.map(\.baseOffset) && after.map(\.nextOffset) == segments.map(\.nextOffset))
        let records = try log.read(from: 0, maxRecords: Int.max, maxBytes: Int.max)
        let activeBase = try #require(after.last).baseOffset
        // Only the key's latest record among the sealed segments is left (the active one is not compacted).
        #expect(records.filter { $0.offset < activeBase }.map(\.offset) == [activeBase - 1])
        #expect(try log.read(at: 0).offset == activeBase - 1)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
        let reopened = try Log.open(directory: directory.log(), options: Self.options())
        defer { try? reopened.close() }
        #expect(try reopened.read(from: 0, maxRecords: Int.max, maxBytes: Int.max).map(\.offset) == records.map(\.offset))
        try reopened.truncate(from: activeBase - 1)
        #expect(reopened.nextOffset == activeBase - 1)
    }

    /// `cleanup.policy=compact`: rolling a segment starts a compaction in the
    /// background; appends go on meanwhile.
    @Test func rollsCompactInTheBackgroundUnderTheCompactPolicy() throws {
        let directory = try TemporaryDirectory()
        var options = Self.options()
        options.cleanupPolicy = .compact
        let log = try Log.open(directory: directory.log(), options: options)
        defer { try? log.close() }
        var model = KeyedModel()
        var generator = SeededGenerator(seed: 21)
        for _ in 0..<300 { try model.append(Self.randomBatch(&generator, keys: 8, timestamp: nowMillis()), to: log) }
        let deadline = ContinuousClock.now + .seconds(60)
        while !log.isBackgroundCompactionIdle && ContinuousClock.now < deadline { usleep(2000) }
        #expect(log.isBackgroundCompactionIdle)
        let segments = try log.segments()
        try #require(segments.count > 3)
        try model.check(log, uniqueBelow: try #require(segments.last).baseOffset, tombstonesGone: false, "background")
        #expect(try log.storageStats().records < Int64(model.appended.count))
    }

    /// A reader on another thread while compaction rewrites segments: each
    /// record it gets is the one appended at that offset.
    @Test func readersKeepWorkingDuringCompaction() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options())
        defer { try? log.close() }
        var model = KeyedModel()
        var generator = SeededGenerator(seed: 9)
        for _ in 0..<400 { try model.append(Self.randomBatch(&generator, keys: 30, timestamp: 5), to: log) }
        let appended = model.appended
        final class Shared: Sendable {
            let done = Atomic<Bool>(false)
            let reads = Atomic<Int>(0)
            let failures = Mutex<[String]>([])
        }
        let shared = Shared()
        let reader = Thread {
            while !shared.done.load(ordering: .acquiring) {
                do {
                    var offset = log.lowestOffset
                    while offset < appended.count {
                        let chunk = try log.read(from: offset, maxRecords: 50, maxBytes: 1)
                        guard let last = chunk.last else { break }
                        for record in chunk where record.value != appended[Int(record.offset)].value {
                            shared.failures.withLock { $0.append("offset \(record.offset) changed") }
                        }
                        offset = last.offset + 1
                        shared.reads.add(1, ordering: .relaxed)
                    }
                } catch {
                    shared.failures.withLock { $0.append("\(error)") }
                }
            }
        }
        reader.start()
        for capacity in [3, 10, 1000] { try log.compact(now: 10, keyMapCapacity: capacity) }
        shared.done.store(true, ordering: .releasing)
        while !reader.isFinished { usleep(1000) }
        let failures = shared.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(shared.reads.load(ordering: .relaxed) > 0)
        try model.check(log, uniqueBelow: try #require(log.segments().last).baseOffset, tombstonesGone: false, "after")
    }

    /// The states a crash can leave: undecided `.cleaned` files are deleted,
    /// a decided `.store.swap` replaces the store; either way the log opens,
    /// verifies and reads the same latest values.
    @Test func openFinishesOrRollsBackAnInterruptedCompaction() throws {
        let directory = try TemporaryDirectory()
        var model = KeyedModel()
        var generator = SeededGenerator(seed: 11)
        let log = try Log.open(directory: directory.log("original"), options: Self.options())
        for _ in 0..<150 { try model.append(Self.randomBatch(&generator, keys: 10, timestamp: 5), to: log) }
        try log.close()
        let original = try DirectoryImage(of: directory.log("original"))
        let compacting = try Log.open(directory: directory.log("original"), options: Self.options())
        try compacting.compact(now: 10)
        try compacting.close()
        let compacted = try DirectoryImage(of: directory.log("original"))
        let changed = original.storeNames.filter { original.files[$0] != compacted.files[$0] }
        try #require(changed.count >= 2)

        for (number, name) in changed.enumerated() {
            let indexName = String(name.dropLast("store".count)) + "index"
            // Crashed before the swap was decided: the rewrite is thrown away.
            var undecided = original
            undecided.files.removeValue(forKey: ".clean-shutdown")
            undecided.files[name + ".cleaned"] = compacted.files[name]
            undecided.files[indexName + ".cleaned"] = compacted.files[indexName]
            // Crashed after the decision: before the old index went, after, or after the store's rename.
            var decided = original
            decided.files.removeValue(forKey: ".clean-shutdown")
            decided.files[name + ".swap"] = compacted.files[name]
            decided.files[indexName + ".cleaned"] = compacted.files[indexName]
            switch number % 3 {
            case 0: break
            case 1: decided.files.removeValue(forKey: indexName)
            default:
                decided.files.removeValue(forKey: indexName)
                decided.files.removeValue(forKey: name + ".swap")
                decided.files[name] = compacted.files[name]
            }
            for (label, image, expected) in [
                ("undecided", undecided, original.files[name]), ("decided", decided, compacted.files[name]),
            ] {
                let path = directory.log("\(label)-\(number)")
                try image.materialize(at: path)
                let reopened = try Log.open(directory: path, options: Self.options())
                try model.check(reopened, uniqueBelow: 0, tombstonesGone: false, "\(label) \(name)")
                try reopened.close()
                #expect(try readBytes(path.appending(name)) == expected, "\(label) \(name)")
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: path.string).filter {
                    $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap")
                }
                #expect(leftovers.isEmpty, "\(label): \(leftovers)")
                #expect(try Log.verify(directory: path).isClean, "\(label) \(name)")
            }
            // verify and a reader in another process cope with the crashed state before any open.
            let crashed = directory.log("crashed-\(number)")
            try decided.materialize(at: crashed)
            let report = try Log.verify(directory: crashed)
            #expect(report.isClean && !report.notes.isEmpty, "\(report.problems) \(report.notes)")
            try model.check(
                try Log.openForReading(directory: crashed), uniqueBelow: 0, tombstonesGone: false, "reader of crashed \(name)")
        }
    }
}
