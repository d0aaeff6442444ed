import AsyncTestSupport
import Foundation
import Synchronization
import SystemPackage
import Testing

@testable import LogStore

/// `appendDeferringDurability` / `waitUntilDurable` as the ingester drives
/// them, under load: one appender with batches from a few bytes to tens of
/// megabytes (the sizes around the write buffer and its 4x shrink limit
/// included), several tasks waiting for durability of the newest receipts,
/// and readers checking records while the writer goes on. At the end every
/// offset, every batch boundary, store position and index entry is checked
/// against a model, and the closed log verifies clean.
@Suite struct DeferredDurabilityStressTests {
    /// What the appender has handed out: each batch's offsets and value sizes.
    struct Model {
        var batches: [(offsets: Range<Int64>, sizes: [Int])] = []
        var sizes: [Int] = []
        var receipts: [AppendReceipt] = []
        /// Offsets below this were reported durable by `waitUntilDurable`.
        var durableEnd: Int64 = 0
        var appending = true
    }

    static let bufferBytes = 256 << 10

    @Test(arguments: [SyncPolicy.always, .interval(milliseconds: 3), .never], testSeeds([11, 12]))
    func appendersWaitersAndReadersAgreeWithTheModel(policy: SyncPolicy, seed: UInt64) async throws {
        // Appends of tens of megabytes block: every task of this test runs on threads of its own.
        try await offPool { try await Self.stress(policy: policy, seed: seed) }
    }

    static func stress(policy: SyncPolicy, seed: UInt64) async throws {
        print("DeferredDurabilityStressTests seed \(seed) (rerun with LOGSTORE_TEST_SEED=\(seed))")
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 40 << 20, syncPolicy: policy, writeBufferBytes: bufferBytes)
        let log = try Log.open(directory: directory.log(), options: options)
        let model = Shared(Model())
        let failures = Shared<[String]>([])
        let readsChecked = Shared(0)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var generator = SeededGenerator(seed: seed)
                var totalBytes = 0
                while totalBytes < 160 << 20 {
                    let sizes = Self.randomBatchSizes(using: &generator)
                    let first = model.withLock { Int64($0.sizes.count) }
                    let records = sizes.enumerated().map { index, size in
                        Record(key: nil, value: patternValue(offset: first + Int64(index), length: size))
                    }
                    let receipt = try log.appendDeferringDurability(records)
                    let mismatch = receipt.offsets != first..<first + Int64(sizes.count)
                    if mismatch { failures.withLock { $0.append("batch at \(first) got offsets \(receipt.offsets)") } }
                    model.withLock {
                        $0.batches.append((receipt.offsets, sizes))
                        $0.sizes += sizes
                        $0.receipts.append(receipt)
                    }
                    totalBytes += sizes.reduce(0, +)
                    if Int.random(in: 0..<8, using: &generator) == 0 { await Task.yield() }
                }
                model.withLock { $0.appending = false }
            }
            for waiter in 0..<3 {
                group.addTask {
                    var waits = 0
                    while let receipt = model.withLock({ $0.appending ? $0.receipts.last : nil }) {
                        try await log.waitUntilDurable(receipt)
                        waits += 1
                        model.withLock { $0.durableEnd = max($0.durableEnd, receipt.offsets.upperBound) }
                        // What was reported durable is readable, under every policy.
                        let last = try log.read(at: receipt.offsets.upperBound - 1)
                        let size = model.withLock { $0.sizes[Int(last.offset)] }
                        if !isPatternValue(last.value, offset: last.offset, length: size) {
                            failures.withLock { $0.append("waiter \(waiter): offset \(last.offset) reads back wrong") }
                        }
                        await Task.yield()
                    }
                    if waits == 0 { await Task.yield() }
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    var generator = SeededGenerator(seed: seed &+ UInt64(reader) &+ 100)
                    // Reads while the appender runs, and once more after it ended.
                    while true {
                        let (appending, end, sizes, last) = model.withLock { model in
                            // Under `.always` readers see only what is durable.
                            let end = policy == .always ? model.durableEnd : Int64(model.sizes.count)
                            return (model.appending, end, model.sizes, model.receipts.last)
                        }
                        guard end > 0 else {
                            if !appending, let last {
                                try await log.waitUntilDurable(last)
                                model.withLock { $0.durableEnd = max($0.durableEnd, last.offsets.upperBound) }
                            }
                            await Task.yield()
                            continue
                        }
                        let offset = Int64.random(in: 0..<end, using: &generator)
                        let records = try log.read(from: offset, maxRecords: 4, maxBytes: 1 << 20)
                        for record in records where Int(record.offset) < sizes.count {
                            if !isPatternValue(record.value, offset: record.offset, length: sizes[Int(record.offset)]) {
                                failures.withLock { $0.append("reader \(reader): offset \(record.offset) reads back wrong") }
                            }
                        }
                        if records.first?.offset != offset {
                            failures.withLock {
                                $0.append(
                                    "reader \(reader): read(from: \(offset)) began at \(String(describing: records.first?.offset))"
                                )
                            }
                        }
                        readsChecked.withLock { $0 += 1 }
                        guard appending else { break }
                        await Task.yield()
                    }
                }
            }
            try await group.waitForAll()
        }
        if let last = model.withLock({ $0.receipts.last }) { try await log.waitUntilDurable(last) }

        #expect(failures.withLock { $0 } == [], "seed \(seed), policy \(policy)")
        #expect(readsChecked.withLock { $0 } > 0)
        let final = model.withLock { $0 }
        try expectPatternRecords(log, sizes: final.sizes, "seed \(seed), policy \(policy)")
        let segments = try log.segments()
        #expect(segments.count > 1, "seed \(seed): segments should roll")
        try log.close()

        try expectStoresAndIndexesMatch(directory.log(), batches: final.batches, "seed \(seed), policy \(policy)")
        let report = try Log.verify(directory: directory.log())
        #expect(report.isClean, "seed \(seed), policy \(policy): \(report.problems)")
        #expect(report.records == Int64(final.sizes.count) && report.batches == final.batches.count)
    }

    /// Value sizes of one batch: mostly small batches of small records; now
    /// and then records around the write buffer, its 4x shrink limit, a few
    /// megabytes, or tens of megabytes (alone in their batch).
    static func randomBatchSizes(using generator: inout SeededGenerator) -> [Int] {
        let buffer = bufferBytes
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<70:
            return (0..<Int.random(in: 1...20, using: &generator)).map { _ in Int.random(in: 0...300, using: &generator) }
        case 70..<82:
            return (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                Int.random(in: buffer - 200...buffer + 200, using: &generator)
            }
        case 82..<90:
            return [Int.random(in: 4 * buffer - 200...4 * buffer + 200, using: &generator)]
        case 90..<97:
            return (0..<Int.random(in: 1...3, using: &generator)).map { _ in Int.random(in: 1 << 20...6 << 20, using: &generator)
            }
        default:
            return [Int.random(in: 8 << 20...30 << 20, using: &generator)]
        }
    }

    /// Reads every store and index file of a closed log: the batches tile
    /// each store from position 0, in the model's order and boundaries, and
    /// each index entry names its batch's relative offset and position.
    static func expectStoresAndIndexesMatch(
        _ path: FilePath, batches: [(offsets: Range<Int64>, sizes: [Int])], _ comment: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let image = try DirectoryImage(of: path)
        var expected = batches[...]
        for storeName in image.storeNames {
            let store = image.files[storeName] ?? []
            let indexName = storeName.replacingOccurrences(of: ".store", with: ".index")
            let index = image.files[indexName] ?? []
            let baseOffset = Int64(storeName.dropLast(".store".count)) ?? -1
            let layout = batchLayout(of: store)
            let end = layout.last.map { $0.position + $0.header.size } ?? 0
            #expect(
                end == store.count, "\(storeName): batches end at \(end) of \(store.count) bytes \(comment)",
                sourceLocation: sourceLocation)
            #expect(
                index.count == layout.count * SegmentIndex.entrySize, "\(indexName) size \(comment)",
                sourceLocation: sourceLocation)
            for (number, batch) in layout.enumerated() {
                guard let model = expected.popFirst() else {
                    Issue.record("\(storeName) holds more batches than were appended \(comment)", sourceLocation: sourceLocation)
                    return
                }
                #expect(
                    batch.header.baseOffset == model.offsets.lowerBound && Int(batch.header.recordCount) == model.offsets.count,
                    "\(storeName) batch \(number) \(comment)", sourceLocation: sourceLocation)
                let entry = number * SegmentIndex.entrySize
                guard entry + SegmentIndex.entrySize <= index.count else { continue }
                let relative = index[entry..<entry + 4].reversed().reduce(0) { $0 << 8 | Int64($1) }
                let position = index[entry + 4..<entry + 12].reversed().reduce(0) { $0 << 8 | Int64($1) }
                #expect(
                    relative == model.offsets.lowerBound - baseOffset && position == Int64(batch.position),
                    "\(indexName) entry \(number) \(comment)", sourceLocation: sourceLocation)
            }
        }
        #expect(expected.isEmpty, "\(expected.count) appended batches are in no store \(comment)", sourceLocation: sourceLocation)
    }
}
