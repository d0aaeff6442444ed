import Foundation
import SystemPackage
import Testing

@testable import LogStore

#if canImport(Glibc)
import Glibc
#endif

/// The active store's blocks allocated ahead of its end (`Preallocation`):
/// more blocks than bytes while it is written, its size always the bytes
/// written, and the blocks past the end given back at a roll and at close.
@Suite struct PreallocationTests {
    /// Bytes of disk a file holds (`st_blocks` are 512 bytes), its size, and
    /// its size rounded up to whole blocks (all it holds with nothing ahead).
    static func usage(_ path: FilePath) throws -> (allocated: Int64, size: Int64, blocks: Int64) {
        var info = stat()
        guard stat(path.string, &info) == 0 else { throw Errno(rawValue: errno) }
        let block = Int64(max(info.st_blksize, 512))
        return (Int64(info.st_blocks) * 512, Int64(info.st_size), (Int64(info.st_size) + block - 1) / block * block)
    }

    /// Whether `fallocate` works in `directory` (no on some file systems, and off Linux).
    static func fallocateWorks(in directory: FilePath) throws -> Bool {
        guard let fallocate = Preallocation.fallocate else { return false }
        let probe = try FileDescriptor.open(
            directory.appending("probe"), .readWrite, options: [.create], permissions: [.ownerReadWrite])
        defer { try? probe.close() }
        return fallocate(probe.rawValue, Preallocation.keepSize, 0, 1 << 20) == 0
    }

    @Test func blocksAheadWhileWrittenAndGivenBackAtRollAndClose() throws {
        let directory = try TemporaryDirectory()
        let preallocates = try Self.fallocateWorks(in: directory.path)
        let path = directory.log()
        let log = try Log.open(directory: path, options: LogOptions(maxSegmentBytes: 1 << 20, syncPolicy: .never))
        let value = [UInt8](repeating: UInt8(ascii: "p"), count: 1000)
        func appendHundred() throws { try log.append((0..<100).map { _ in Record(value: value) }) }
        for _ in 0..<3 { try appendHundred() }
        try log.flush()
        let first = Segment.storePath(in: path, baseOffset: 0)
        let written = try Self.usage(first)
        #expect(written.size > 300_000, "the store holds what was written")
        if preallocates {
            // As much ahead as the segment holds while it is small: no more than its bytes again.
            #expect(written.allocated > written.blocks + 200_000, "blocks ahead: \(written)")
            #expect(written.allocated <= 2 * written.blocks + 64 << 10, "no more ahead than the bytes: \(written)")
        } else {
            #expect(written.allocated <= written.blocks, "nothing allocated ahead: \(written)")
        }
        // A roll seals the segment: its blocks past the end go, its bytes stay.
        func stores() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: path.string).filter { $0.hasSuffix(".store") }.sorted()
        }
        var appended = 300
        while try stores().count < 2 {
            try appendHundred()
            appended += 100
            #expect(appended <= 2000, "the log never rolled")
            if appended > 2000 { return }
        }
        let sealed = try Self.usage(first)
        #expect(sealed.size > 900_000)
        #expect(sealed.allocated <= sealed.blocks, "given back at the roll: \(sealed)")
        try appendHundred()
        try log.flush()
        let second = path.appending(try stores()[1])
        let open = try Self.usage(second)
        #expect(open.size > 100_000)
        if preallocates { #expect(open.allocated > open.blocks, "blocks ahead in the new segment: \(open)") }
        try log.close()
        let closed = try Self.usage(second)
        #expect(closed.size == open.size)
        #expect(closed.allocated <= closed.blocks, "given back at close: \(closed)")
        let reopened = try Log.open(directory: path, options: LogOptions(syncPolicy: .never))
        let records = try reopened.read(from: 0, maxRecords: 10_000, maxBytes: Int.max)
        #expect(records.count == appended + 100 && records.allSatisfy { $0.record.value == value })
        try reopened.close()
        #expect(try Log.verify(directory: path).isClean)
    }
}
