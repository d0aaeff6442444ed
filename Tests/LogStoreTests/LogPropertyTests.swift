import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Random workloads against a model: batch sizes, record sizes (empty and nil
/// values included), tiny segments and indexes so segments roll all the
/// time, clean reopens in between; every offset read back three ways.
@Suite struct LogPropertyTests {
    @Test(arguments: testSeeds([1, 2, 3, 4, 5, 6]))
    func randomWorkloadsReadBackExactly(seed: UInt64) throws {
        print("LogPropertyTests seed \(seed) (rerun with LOGSTORE_TEST_SEED=\(seed))")
        var generator = SeededGenerator(seed: seed)
        let directory = try TemporaryDirectory()
        let options = LogOptions(
            maxSegmentBytes: Int64.random(in: 1024...8192, using: &generator),
            maxIndexBytes: SegmentIndex.entrySize * Int.random(in: 1...12, using: &generator),
            syncPolicy: [.never, .never, .always, .interval(milliseconds: 5)].randomElement(using: &generator) ?? .never,
            writeBufferBytes: 4096)
        var model = LogModel()
        var log = try Log.open(directory: directory.log(), options: options)
        for round in 0..<Int.random(in: 4...7, using: &generator) {
            for _ in 0..<Int.random(in: 5...40, using: &generator) {
                let count =
                    Int.random(in: 0..<6, using: &generator) == 0
                    ? Int.random(in: 10...60, using: &generator) : Int.random(in: 1...4, using: &generator)
                let maxValue = Int.random(in: 0..<10, using: &generator) == 0 ? 3000 : 200
                let batch = (0..<count).map { _ in randomRecord(using: &generator, maxValueBytes: maxValue) }
                try model.append(batch, to: log)
                if Int.random(in: 0..<10, using: &generator) == 0 {
                    // Reads in the middle of appending see everything appended so far.
                    let offset = Int64.random(in: 0..<model.nextOffset, using: &generator)
                    #expect(model.matches(try log.read(at: offset)), "seed \(seed): read(at: \(offset)) while appending")
                }
            }
            try model.expectLogMatches(log, "seed \(seed), round \(round), before reopen")
            try log.close()
            log = try Log.open(directory: directory.log(), options: options)
            try model.expectLogMatches(log, "seed \(seed), round \(round), after reopen")
        }
        let segments = try log.segments()
        #expect(segments.count > 1, "seed \(seed): segments should roll")
        #expect(segments.first?.baseOffset == 0 && segments.last?.nextOffset == model.nextOffset)
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.nextOffset == $1.baseOffset })
        #expect(segments.reduce(0) { $0 + $1.recordCount } == model.nextOffset)
        try log.close()
    }

    @Test func emptyBatchesAndOversizedBatchesAreRefused() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        expectLogStoreError(.invalidArgument) { try log.append([Record]()) }
        expectLogStoreError(.invalidArgument) {
            try log.append(Record(key: nil, value: [UInt8](repeating: 1, count: BatchLayout.maxBatchSize)))
        }
        #expect(log.nextOffset == 0)
        #expect(try log.append(Record("after")) == 0)
        try log.close()
        expectLogStoreError(.unavailable) { try log.append(Record("closed")) }
    }

    @Test func aBatchLargerThanASegmentGetsASegmentOfItsOwn() throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never, writeBufferBytes: 4096)
        let log = try Log.open(directory: directory.log(), options: options)
        var model = LogModel()
        try model.append([Record("small")], to: log)
        try model.append([Record(key: nil, value: [UInt8](repeating: 9, count: 10_000))], to: log)
        try model.append([Record("small again")], to: log)
        try model.expectLogMatches(log)
        #expect(try log.segments().map(\.recordCount) == [1, 1, 1])
        try log.close()
        let reopened = try Log.open(directory: directory.log(), options: options)
        try model.expectLogMatches(reopened)
        try reopened.close()
    }

    @Test func readsOutsideTheLogAreOutOfRange() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try log.append([Record("a"), Record("b")])
        #expect(try log.read(from: 2, maxRecords: 10).isEmpty)
        let past = expectLogStoreError(.offsetOutOfRange) { try log.read(at: 2) }
        #expect(past?.message.contains("not in the log yet") == true)
        expectLogStoreError(.offsetOutOfRange) { try log.read(from: 3, maxRecords: 1) }
        expectLogStoreError(.offsetOutOfRange) { try log.read(at: -1) }
        try log.close()
    }
}
