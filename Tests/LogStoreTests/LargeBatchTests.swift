import AsyncTestSupport
import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Batches larger than the write buffer, and every size around its limits,
/// mixed with small ones: the append path grows the buffer for a large batch
/// and gives the memory back at the next flush. A batch appended right after
/// that flush once went into the discarded buffer: it got an index entry and
/// an offset but never reached the store (issue 14).
@Suite struct LargeBatchTests {
    static let bufferBytes = 64 << 10

    /// Value sizes, in order, each appended as a one-record batch between small ones.
    static let sizeSequences: [[Int]] = [
        [9_000_000, 10, 10, 10],
        [bufferBytes - 100, bufferBytes, bufferBytes + 100, 10, 4 * bufferBytes - 100, 10, 4 * bufferBytes + 100, 10],
        [4 * bufferBytes + 1000, 4 * bufferBytes + 1000, 10, 5 * bufferBytes, 5 * bufferBytes, 10],
        [12_000_000, 12_000_000, 100, 3_000_000, 100, 64 << 20 - 200, 100],
    ]

    static let policies: [SyncPolicy] = [.never, .interval(milliseconds: 5), .always]

    @Test(arguments: policies, 0..<sizeSequences.count)
    func largeBatchesBetweenSmallOnesAreAllStored(policy: SyncPolicy, sequence: Int) async throws {
        // Appends and reads of tens of megabytes block: off the cooperative threads the async tests need.
        try await offPool { try Self.appendSequence(policy: policy, sequence: sequence) }
    }

    static func appendSequence(policy: SyncPolicy, sequence: Int) throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(syncPolicy: policy, writeBufferBytes: bufferBytes)
        var log = try Log.open(directory: directory.log(), options: options)
        var sizes: [Int] = []
        for size in sizeSequences[sequence] {
            let offset = try log.append(Record(key: nil, value: patternValue(offset: Int64(sizes.count), length: size)))
            #expect(offset == Int64(sizes.count))
            sizes.append(size)
        }
        try expectPatternRecords(log, sizes: sizes, "policy \(policy), sequence \(sequence), open")
        try log.close()
        let report = try Log.verify(directory: directory.log())
        #expect(report.isClean, "\(report.problems)")
        #expect(report.records == Int64(sizes.count))
        log = try Log.open(directory: directory.log(), options: options)
        try expectPatternRecords(log, sizes: sizes, "policy \(policy), sequence \(sequence), reopened")
        try log.close()
    }

    /// The ingester's path: deferred durability, then a wait on the last receipt.
    @Test(arguments: policies, 0..<sizeSequences.count)
    func largeBatchesAppendedDeferringDurabilityAreAllStored(policy: SyncPolicy, sequence: Int) async throws {
        try await offPool { try await Self.appendSequenceDeferringDurability(policy: policy, sequence: sequence) }
    }

    static func appendSequenceDeferringDurability(policy: SyncPolicy, sequence: Int) async throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(syncPolicy: policy, writeBufferBytes: Self.bufferBytes)
        let log = try Log.open(directory: directory.log(), options: options)
        var sizes: [Int] = []
        var receipt: AppendReceipt?
        for size in Self.sizeSequences[sequence] {
            receipt = try log.appendDeferringDurability([
                Record(key: nil, value: patternValue(offset: Int64(sizes.count), length: size))
            ])
            #expect(receipt?.offsets == Int64(sizes.count)..<Int64(sizes.count + 1))
            sizes.append(size)
        }
        if let receipt { try await log.waitUntilDurable(receipt) }
        try expectPatternRecords(log, sizes: sizes, "policy \(policy), sequence \(sequence)")
        try log.close()
        let report = try Log.verify(directory: directory.log())
        #expect(report.isClean, "\(report.problems)")
        #expect(report.records == Int64(sizes.count))
    }
}

/// A value that names its offset: 8 bytes of offset, then a byte pattern
/// derived from it, so a record read back at the wrong place or cut short
/// shows.
func patternValue(offset: Int64, length: Int) -> [UInt8] {
    var value = [UInt8](repeating: 0, count: length)
    let fill = UInt8(truncatingIfNeeded: offset &* 31 &+ 7)
    value.withUnsafeMutableBytes { bytes in
        bytes.initializeMemory(as: UInt8.self, repeating: fill)
        withUnsafeBytes(of: offset.bigEndian) { prefix in
            for index in 0..<min(8, length) { bytes[index] = prefix[index] }
        }
    }
    return value
}

/// Whether `value` is `patternValue(offset:length:)`.
func isPatternValue(_ value: [UInt8]?, offset: Int64, length: Int) -> Bool {
    guard let value, value.count == length else { return false }
    return value == patternValue(offset: offset, length: length)
}

/// Reads every offset of `log` one by one and checks its value against the pattern.
func expectPatternRecords(
    _ log: Log, sizes: [Int], _ comment: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    #expect(log.nextOffset == Int64(sizes.count), "\(comment)", sourceLocation: sourceLocation)
    for (offset, size) in sizes.enumerated() {
        let stored = try log.read(at: Int64(offset))
        #expect(stored.offset == Int64(offset), "\(comment)", sourceLocation: sourceLocation)
        #expect(
            isPatternValue(stored.value, offset: Int64(offset), length: size),
            "offset \(offset) (\(size) bytes) \(comment)", sourceLocation: sourceLocation)
    }
}
