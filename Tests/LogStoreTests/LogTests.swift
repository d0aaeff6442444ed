import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct LogTests {
    @Test func appendsAndReadsBackAcrossReopen() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        #expect(try log.append(Record("zero", key: "k0")) == 0)
        #expect(try log.append([Record("one"), Record("two", headers: [RecordHeader("h", "v")])]) == 1..<3)
        #expect(try log.read(at: 0).value == Array("zero".utf8))
        #expect(try log.read(at: 0).key == Array("k0".utf8))
        #expect(try log.read(at: 2).headers == [RecordHeader("h", "v")])
        try log.close()

        let reopened = try Log.open(directory: directory.log())
        #expect(reopened.lowestOffset == 0)
        #expect(reopened.nextOffset == 3)
        let all = try reopened.read(from: 0, maxRecords: 10)
        #expect(all.map { String(decoding: $0.value ?? [], as: UTF8.self) } == ["zero", "one", "two"])
        #expect(try reopened.append(Record("three")) == 3)
        try reopened.close()
    }

    @Test func rollsSegmentsAndReadsEveryOffset() throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 4096, syncPolicy: .never)
        let log = try Log.open(directory: directory.log(), options: options)
        for number in 0..<1000 {
            try log.append(Record("value-\(number)"))
        }
        let segments = try log.segments()
        #expect(segments.count > 10)
        for number in [0, 1, 57, 500, 998, 999] {
            #expect(try log.read(at: Int64(number)).value == Array("value-\(number)".utf8))
        }
        try log.close()
        let reopened = try Log.open(directory: directory.log(), options: options)
        let all = try reopened.read(from: 0, maxRecords: 2000, maxBytes: 1 << 30)
        #expect(all.count == 1000)
        #expect(all.enumerated().allSatisfy { $0.element.offset == Int64($0.offset) })
        try reopened.close()
    }
}
