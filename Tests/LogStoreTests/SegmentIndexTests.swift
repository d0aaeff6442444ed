import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct SegmentIndexTests {
    static func entryBytes(_ relative: UInt32, _ position: Int64, _ maxTimestamp: Int64) -> [UInt8] {
        withUnsafeBytes(of: relative.littleEndian, Array.init) + withUnsafeBytes(of: position.littleEndian, Array.init)
            + withUnsafeBytes(of: maxTimestamp.littleEndian, Array.init)
    }

    @Test func entriesAreFixedWidthLittleEndianWithARunningMaxTimestamp() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path.appending("0.index")
        let file = try OpenFile(path: path, options: [.create])
        let index = try SegmentIndex(file: file, count: 0, preallocateBytes: 10 * SegmentIndex.entrySize)
        #expect(index.capacity == 10)
        // The preallocated file is zero-filled past the entries.
        #expect(try readBytes(path) == [UInt8](repeating: 0, count: 10 * SegmentIndex.entrySize))
        index.append(relativeOffset: 0, position: 0, batchMaxTimestamp: 500)
        index.append(relativeOffset: 3, position: 0x0102_0304_0506, batchMaxTimestamp: 100)
        index.append(relativeOffset: 0x0A0B_0C0D, position: 9999, batchMaxTimestamp: 700)
        #expect(index.count == 3)
        #expect(index.entry(1) == IndexEntry(relativeOffset: 3, position: 0x0102_0304_0506, maxTimestamp: 500))
        #expect(index.entry(2).maxTimestamp == 700)
        try index.seal()
        let sealed = try readBytes(path)
        #expect(
            sealed == Self.entryBytes(0, 0, 500) + Self.entryBytes(3, 0x0102_0304_0506, 500)
                + Self.entryBytes(0x0A0B_0C0D, 9999, 700))
        let reopened = try SegmentIndex(file: try OpenFile(path: path, options: []), count: 3, preallocateBytes: nil)
        #expect((0..<3).map(reopened.entry) == (0..<3).map(index.entry))
    }

    @Test func searchFindsTheLastEntryAtOrBelowAnOffset() throws {
        let directory = try TemporaryDirectory()
        let file = try OpenFile(path: directory.path.appending("0.index"), options: [.create])
        let index = try SegmentIndex(file: file, count: 0, preallocateBytes: 4096)
        let relatives: [UInt32] = [0, 2, 3, 10, 11, 50]
        for (number, relative) in relatives.enumerated() {
            index.append(relativeOffset: relative, position: Int64(number * 100), batchMaxTimestamp: Int64(number * 10))
        }
        for offset in UInt32(0)...60 {
            let expected = relatives.lastIndex { $0 <= offset }
            #expect(index.search(relativeOffset: offset, count: relatives.count) == expected, "offset \(offset)")
        }
        // Only the first `count` entries are looked at.
        #expect(index.search(relativeOffset: 60, count: 3) == 2)
        #expect(index.search(relativeOffset: 60, count: 0) == nil)
        #expect(index.search(timestamp: 25, count: relatives.count) == 3)
        #expect(index.search(timestamp: 0, count: relatives.count) == 0)
        #expect(index.search(timestamp: 51, count: relatives.count) == nil)
    }

    @Test func aFullIndexRefusesMoreAndTruncateForgetsEntries() throws {
        let directory = try TemporaryDirectory()
        let file = try OpenFile(path: directory.path.appending("0.index"), options: [.create])
        let index = try SegmentIndex(file: file, count: 0, preallocateBytes: 2 * SegmentIndex.entrySize + 7)
        #expect(index.capacity == 2)
        index.append(relativeOffset: 0, position: 0, batchMaxTimestamp: 1)
        #expect(!index.isFull)
        index.append(relativeOffset: 1, position: 70, batchMaxTimestamp: 2)
        #expect(index.isFull)
        index.append(relativeOffset: 2, position: 140, batchMaxTimestamp: 3)
        #expect(index.count == 2)
        index.truncate(toCount: 1)
        #expect(index.count == 1)
        try index.seal()
        #expect(try file.size() == Int64(SegmentIndex.entrySize))
    }
}
