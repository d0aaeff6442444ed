import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// `truncate(from:)`: everything at and after the offset goes, durably, and
/// the next append gets that offset.
@Suite struct TruncateTests {
    static let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never, writeBufferBytes: 4096)

    /// A log of batches of three records (offsets 3n, 3n+1, 3n+2) over several segments.
    static func makeLog(_ directory: borrowing TemporaryDirectory) throws -> (Log, LogModel) {
        let log = try Log.open(directory: directory.log(), options: options)
        var model = LogModel()
        for number in 0..<40 {
            try model.append((0..<3).map { Record("batch \(number) record \($0)", key: "k\(number)") }, to: log)
        }
        return (log, model)
    }

    /// Offsets to cut at: batch boundaries and inside batches, in the first,
    /// a middle and the active segment, the very first and the last offset.
    static let cuts: [Int64] = [0, 1, 2, 3, 30, 31, 59, 61, 100, 117, 118, 119]

    @Test(arguments: cuts)
    func truncateKeepsEverythingBeforeTheOffset(offset: Int64) throws {
        let directory = try TemporaryDirectory()
        var (log, model) = try Self.makeLog(directory)
        let segmentsBefore = try log.segments()
        #expect(segmentsBefore.count >= 4)
        try log.truncate(from: offset)
        model.truncate(from: offset)
        try model.expectLogMatches(log, "after truncate(from: \(offset))")
        expectLogStoreError(.offsetOutOfRange) { try log.read(at: offset) }
        let segments = try log.segments()
        #expect(segments.last?.nextOffset == offset)
        #expect(segments.last?.isActive == true)
        // Segments that started after the offset are gone, files and all.
        let storeFiles = try FileManager.default.contentsOfDirectory(atPath: directory.log().string).filter {
            $0.hasSuffix(".store")
        }
        #expect(storeFiles.count == segments.count)
        #expect(segments.allSatisfy { $0.baseOffset <= offset })
        try model.append([Record("new at \(offset)"), Record("and one more")], to: log)
        try model.expectLogMatches(log)
        try log.close()
        log = try Log.open(directory: directory.log(), options: Self.options)
        try model.expectLogMatches(log, "after reopen")
        try model.append([Record("after reopen")], to: log)
        try log.close()
        // Again after an unclean stop (no marker): the truncation was durable.
        let image = try DirectoryImage(of: directory.log())
        var crashed = image
        crashed.files[Log.cleanShutdownMarker] = nil
        try crashed.materialize(at: directory.log("crashed"))
        let recovered = try Log.open(directory: directory.log("crashed"), options: Self.options)
        try model.expectLogMatches(recovered, "after an unclean stop")
        try recovered.close()
    }

    @Test func truncateAtTheNextOffsetIsANoOp() throws {
        let directory = try TemporaryDirectory()
        let (log, model) = try Self.makeLog(directory)
        let segments = try log.segments()
        try log.truncate(from: model.nextOffset)
        #expect(try log.segments() == segments)
        try model.expectLogMatches(log)
        try log.close()
    }

    @Test func truncateOutOfRangeThrows() throws {
        let directory = try TemporaryDirectory()
        let (log, model) = try Self.makeLog(directory)
        expectLogStoreError(.offsetOutOfRange) { try log.truncate(from: model.nextOffset + 1) }
        expectLogStoreError(.offsetOutOfRange) { try log.truncate(from: -1) }
        try log.deleteSegments(below: 30)
        let lowest = log.lowestOffset
        #expect(lowest > 0)
        expectLogStoreError(.offsetOutOfRange) { try log.truncate(from: lowest - 1) }
        try model.expectLogMatches(log, from: lowest)
        try log.close()
    }

    @Test func truncateWithBufferedAppendsAndRepeatedTruncation() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        var model = LogModel()
        for number in 0..<10 { try model.append([Record("a\(number)"), Record("b\(number)")], to: log) }
        for offset: Int64 in [15, 15, 9, 4, 0] {
            try log.truncate(from: offset)
            model.truncate(from: offset)
            try model.expectLogMatches(log, "truncate(from: \(offset))")
            try model.append([Record("x\(offset)")], to: log)
        }
        try log.close()
        let reopened = try Log.open(directory: directory.log())
        try model.expectLogMatches(reopened)
        try reopened.close()
    }
}
