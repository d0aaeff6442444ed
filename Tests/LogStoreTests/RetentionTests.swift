import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// `deleteSegments(below:)` and reads below the oldest retained offset
/// (DESIGN.md rule 5).
@Suite struct RetentionTests {
    static let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never, writeBufferBytes: 4096)

    @Test func deletesOnlyWholeSealedSegmentsBelowTheOffset() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        var model = LogModel()
        for number in 0..<200 { try model.append([Record("record \(number)")], to: log) }
        let segments = try log.segments()
        #expect(segments.count >= 4)
        let target = segments[2].baseOffset + 1  // inside the third segment
        #expect(try log.deleteSegments(below: target) == 2)
        #expect(log.lowestOffset == segments[2].baseOffset)
        #expect(try log.segments() == Array(segments[2...]))
        for segment in segments[0..<2] {
            #expect(!fileExists(directory.log().appending(Segment.fileName(baseOffset: segment.baseOffset, suffix: "store"))))
            #expect(!fileExists(directory.log().appending(Segment.fileName(baseOffset: segment.baseOffset, suffix: "index"))))
        }
        #expect(try log.deleteSegments(below: target) == 0)
        try model.expectLogMatches(log, from: log.lowestOffset)

        let error = expectLogStoreError(.offsetOutOfRange) { try log.read(at: 0) }
        #expect(error?.message.contains("below the oldest retained offset") == true)
        #expect(error?.message.contains("\(log.lowestOffset)") == true)
        expectLogStoreError(.offsetOutOfRange) { try log.read(from: log.lowestOffset - 1, maxRecords: 5) }
        try log.close()

        let reopened = try Log.open(directory: directory.log(), options: Self.options)
        #expect(reopened.lowestOffset == segments[2].baseOffset)
        try model.expectLogMatches(reopened, from: reopened.lowestOffset)
        let again = expectLogStoreError(.offsetOutOfRange) { try reopened.read(at: 0) }
        #expect(again?.message.contains("below the oldest retained offset") == true)
        try reopened.close()
    }

    @Test func neverDeletesTheActiveSegment() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        var model = LogModel()
        for number in 0..<100 { try model.append([Record("record \(number)")], to: log) }
        let active = try #require(try log.segments().last)
        try log.deleteSegments(below: Int64.max)
        #expect(try log.segments() == [active])
        #expect(log.lowestOffset == active.baseOffset)
        try model.expectLogMatches(log, from: active.baseOffset)
        try model.append([Record("still appending")], to: log)
        #expect(try log.read(at: model.nextOffset - 1).value == Array("still appending".utf8))
        try log.close()
        let reopened = try Log.open(directory: directory.log(), options: Self.options)
        try model.expectLogMatches(reopened, from: active.baseOffset)
        try reopened.close()
    }

    @Test func aLogWithOnlyTheActiveSegmentDeletesNothing() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        try log.append(Record("only"))
        #expect(try log.deleteSegments(below: 100) == 0)
        #expect(try log.read(at: 0).value == Array("only".utf8))
        try log.close()
    }
}
