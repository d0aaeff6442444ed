import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// A crash in the middle of `truncate(from:)` is finished by the next open.
@Suite struct TruncationRecoveryTests {
    private func values(_ log: Log) throws -> [String] {
        try log.read(from: log.lowestOffset, maxRecords: 10_000, maxBytes: 1 << 24).map {
            String(decoding: $0.value ?? [], as: UTF8.self)
        }
    }

    @Test func planRoundTripsAndRejectsDamage() throws {
        let plan = Log.TruncationPlan(segmentBase: 42, cutPosition: 1234, nextOffset: 50, keptBatch: [1, 2, 3, 4])
        let bytes = plan.encoded()
        #expect(Log.TruncationPlan(bytes) == plan)
        for position in bytes.indices {
            var damaged = bytes
            damaged[position] ^= 0x01
            #expect(Log.TruncationPlan(damaged) == nil, "flipped byte \(position)")
        }
        #expect(Log.TruncationPlan(Array(bytes.dropLast())) == nil)
    }

    /// Every crash point: the plan is on disk, and none, some or all of the
    /// file changes happened. Reopening always yields exactly the truncated log.
    @Test(arguments: [0, 1, 2, 3])
    func anInterruptedTruncationIsFinishedOnOpen(stepsDone: Int) throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 600, syncPolicy: .never)
        let log = try Log.open(directory: directory.log(), options: options)
        for batch in 0..<30 {
            try log.append((0..<3).map { Record("b\(batch)r\($0)") })
        }
        let cut: Int64 = 31  // inside batch 10 (offsets 30, 31, 32)
        let expected = Array(try values(log).prefix(Int(cut)))
        let segments = try log.segments()
        #expect(segments.count > 3)
        let target = try #require(segments.last { $0.baseOffset <= cut })
        try log.close()

        // Build the plan as truncate(from:) would, then crash after `stepsDone` steps.
        let snapshot = try Log.open(directory: directory.log(), options: options)
        var kept: [Record] = []
        try snapshot.forEachRecord(from: 30) { record in
            guard record.offset < cut else { return false }
            kept.append(record.stored().record)
            return true
        }
        let batchPosition: Int64 = try {
            var position: Int64 = 0
            let store = directory.log().appending(Segment.fileName(baseOffset: target.baseOffset, suffix: "store"))
            let bytes = try readBytes(store)
            while position < Int64(bytes.count) {
                let base = bytes[Int(position)..<Int(position) + 8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
                if base == 30 { return position }
                let length = bytes[Int(position) + 8..<Int(position) + 12].reduce(Int32(0)) { $0 << 8 | Int32($1) }
                position += Int64(length) + 12
            }
            throw LogStoreError(.corruption, "batch 30 not found")
        }()
        try snapshot.close()
        let size = BatchEncoder.encodedSize(kept, now: 0)
        var keptBatch = [UInt8](repeating: 0, count: size)
        keptBatch.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { BatchEncoder.encode(kept, baseOffset: 30, now: 0, size: size, to: base) }
        }
        let plan = Log.TruncationPlan(
            segmentBase: target.baseOffset, cutPosition: batchPosition, nextOffset: cut, keptBatch: keptBatch)
        try writeBytes(plan.encoded(), to: directory.log().appending(Log.truncationMarker))
        try FileManager.default.removeItem(atPath: directory.log().appending(Log.cleanShutdownMarker).string)
        let later = segments.filter { $0.baseOffset > target.baseOffset }.map(\.baseOffset)
        if stepsDone >= 1, let newest = later.last {
            try FileManager.default.removeItem(
                atPath: directory.log().appending(Segment.fileName(baseOffset: newest, suffix: "store")).string)
        }
        let store = directory.log().appending(Segment.fileName(baseOffset: target.baseOffset, suffix: "store"))
        if stepsDone >= 2 {
            // Cut at the batch, the kept records not yet written back.
            try writeBytes(Array(try readBytes(store).prefix(Int(batchPosition))), to: store)
        }
        if stepsDone >= 3 {
            try writeBytes(try readBytes(store) + keptBatch.prefix(keptBatch.count / 2), to: store)  // torn rewrite
        }

        let reopened = try Log.open(directory: directory.log(), options: options)
        #expect(!FileManager.default.fileExists(atPath: directory.log().appending(Log.truncationMarker).string))
        #expect(reopened.nextOffset == cut)
        #expect(try values(reopened) == expected)
        #expect(try reopened.append(Record("after")) == cut)
        try reopened.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
