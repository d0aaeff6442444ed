import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Opening after an unclean stop (DESIGN.md rule 1) and the files a crash
/// can leave behind. A crash is simulated by copying the directory of a log
/// that is still open: the copy has no clean-shutdown marker and holds the
/// files as the page cache had them.
@Suite struct RecoveryTests {
    static let options = LogOptions(maxSegmentBytes: 2048, maxIndexBytes: 4096, syncPolicy: .never, writeBufferBytes: 4096)

    @Test func anUncleanStopRebuildsTheActiveIndex() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        var model = LogModel()
        for number in 0..<60 { try model.append([Record("record \(number)"), Record(key: nil, value: nil)], to: log) }
        try log.flush()
        let crashed = try DirectoryImage(of: directory.log())
        try log.close()
        #expect(crashed.files[Log.cleanShutdownMarker] == nil)
        let activeIndex = try #require(crashed.indexNames.last)
        // The active index on disk is preallocated: a zero-filled tail past its entries.
        #expect(crashed.files[activeIndex]?.count ?? 0 >= 4096 - 4096 % SegmentIndex.entrySize)

        try crashed.materialize(at: directory.log("crashed"))
        let recovered = try Log.open(directory: directory.log("crashed"), options: Self.options)
        try model.expectLogMatches(recovered)
        try model.append([Record("after recovery")], to: recovered)
        try recovered.close()
        let active = try readBytes(directory.log("crashed").appending(activeIndex))
        let activeBatches = batchLayout(
            of: try readBytes(directory.log("crashed").appending(activeIndex.replacingOccurrences(of: ".index", with: ".store"))))
        #expect(active.count == activeBatches.count * SegmentIndex.entrySize, "a closed log's index holds exactly its entries")
        let reopened = try Log.open(directory: directory.log("crashed"), options: Self.options)
        try model.expectLogMatches(reopened)
        try reopened.close()
    }

    /// A power loss can keep a later unsynced write and lose an earlier one:
    /// zeros (from a 512-byte boundary, or the whole lost write) and then good
    /// batches. Nothing from the hole on was synced, so open sets those bytes
    /// aside in a quarantine file and cuts; the same hole filled with other
    /// bytes is damage and still refused.
    @Test(arguments: [(0, true), (512, true), (0, false)])
    func aLostWriteBeforeGoodBatchesIsSetAside(zerosFromSector: Int, zeros: Bool) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        var model = LogModel()
        for number in 0..<40 { try model.append([Record("record \(number) " + String(repeating: "x", count: 100))], to: log) }
        try log.flush()
        let crashed = try DirectoryImage(of: directory.log())
        try log.close()
        let storeName = try #require(crashed.storeNames.last)
        var store = try #require(crashed.files[storeName])
        let batches = batchLayout(of: store)
        // Lose the writes of batches 20 to 29 (or, torn, keep their first sector).
        let lostStart = batches[20].position
        let lostEnd = batches[30].position
        let holeStart = zerosFromSector == 0 ? lostStart : (lostStart / 512 + 1) * 512
        #expect(holeStart < lostEnd)
        for position in holeStart..<lostEnd { store[position] = zeros ? 0 : 0x5A }
        var image = crashed
        image.files[storeName] = store
        try image.materialize(at: directory.log("crashed"))
        guard zeros else {
            _ = expectLogStoreError(.corruption) { try Log.open(directory: directory.log("crashed"), options: LogOptions()) }
            return
        }
        // The first batch the hole reaches (one record a batch: its index is its offset).
        let firstLost = try #require(batches.firstIndex { $0.position + $0.header.size > holeStart })
        let recovered = try Log.open(directory: directory.log("crashed"), options: LogOptions(syncPolicy: .never))
        model.truncate(from: Int64(firstLost))
        try model.expectLogMatches(recovered)
        try recovered.close()
        let quarantineName = storeName.replacingOccurrences(of: ".store", with: ".damaged-\(firstLost)")
        let quarantine = try readBytes(directory.log("crashed").appending(quarantineName))
        #expect(quarantine == Array(store[batches[firstLost].position...]), "the bytes from the lost write on are kept aside")
        #expect(try Log.verify(directory: directory.log("crashed")).isClean)
    }

    /// Appends still in the write buffer at the crash are lost, but the index
    /// entries already written for them must not be believed.
    @Test func indexEntriesForUnwrittenBatchesAreIgnored() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never, writeBufferBytes: 4096))
        var model = LogModel()
        for number in 0..<200 { try model.append([Record("record \(number)")], to: log) }
        let crashed = try DirectoryImage(of: directory.log())
        try log.close()
        let storeName = try #require(crashed.storeNames.last)
        let store = try #require(crashed.files[storeName])
        let written = batchLayout(of: store).last.map { $0.header.nextOffset } ?? 0
        #expect(written < model.nextOffset, "some appends should still have been buffered")
        try crashed.materialize(at: directory.log("crashed"))
        let recovered = try Log.open(directory: directory.log("crashed"), options: LogOptions(syncPolicy: .never))
        model.truncate(from: written)
        try model.expectLogMatches(recovered)
        try model.append([Record("next")], to: recovered)
        try recovered.close()
    }

    @Test func aMissingOrGarbageActiveIndexIsRebuilt() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        var model = LogModel()
        for number in 0..<40 { try model.append([Record("record \(number)")], to: log) }
        try log.close()
        let image = try DirectoryImage(of: directory.log())
        let activeIndex = try #require(image.indexNames.last)
        var generator = SeededGenerator(seed: 9)
        for (name, marker) in [("missing", true), ("missing-unclean", false), ("garbage", true), ("garbage-unclean", false)] {
            var damaged = image
            if name.hasPrefix("missing") {
                damaged.files[activeIndex] = nil
            } else {
                damaged.files[activeIndex] = generator.bytes(image.files[activeIndex]?.count ?? 0)
            }
            if !marker { damaged.files[Log.cleanShutdownMarker] = nil }
            try damaged.materialize(at: directory.log(name))
            let reopened = try Log.open(directory: directory.log(name), options: Self.options)
            try model.expectLogMatches(reopened, name)
            #expect(try reopened.append(Record("more")) == model.nextOffset, "\(name)")
            try reopened.close()
        }
    }

    /// DESIGN.md rule 1: a zero-filled preallocated index tail is never read as data.
    @Test(arguments: [true, false])
    func aZeroFilledIndexTailIsNeverReadAsData(cleanMarker: Bool) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        var model = LogModel()
        for number in 0..<80 { try model.append([Record("record \(number)"), Record("twin \(number)")], to: log) }
        try log.close()
        var image = try DirectoryImage(of: directory.log())
        #expect(image.indexNames.count >= 2)
        for name in image.indexNames {
            image.files[name]? += [UInt8](repeating: 0, count: SegmentIndex.entrySize * 7)
        }
        if !cleanMarker { image.files[Log.cleanShutdownMarker] = nil }
        try image.materialize(at: directory.log("zero-tail"))
        let reopened = try Log.open(directory: directory.log("zero-tail"), options: Self.options)
        try model.expectLogMatches(reopened)
        for _ in 0..<3 { try model.append([Record("more")], to: reopened) }
        try model.expectLogMatches(reopened)
        try reopened.close()
        let again = try Log.open(directory: directory.log("zero-tail"), options: Self.options)
        try model.expectLogMatches(again)
        try again.close()
    }

    @Test func strayTemporaryFilesAndOrphanIndexesAreRemoved() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        try log.append(Record("kept"))
        try log.close()
        let stray = directory.log().appending("offsets.json.tmp")
        let orphan = directory.log().appending(Segment.fileName(baseOffset: 12345, suffix: "index"))
        let unrelated = directory.log().appending("notes.txt")
        try writeBytes([1, 2, 3], to: stray)
        try writeBytes([UInt8](repeating: 0, count: 120), to: orphan)
        try writeBytes([4], to: unrelated)
        let reopened = try Log.open(directory: directory.log(), options: Self.options)
        #expect(!fileExists(stray))
        #expect(!fileExists(orphan))
        #expect(fileExists(unrelated))
        #expect(try reopened.read(at: 0).value == Array("kept".utf8))
        #expect(reopened.nextOffset == 1)
        try reopened.close()
    }

    @Test func aSecondOpenOfTheSameDirectoryIsUnavailable() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        try log.append(Record("one"))
        let error = expectLogStoreError(.unavailable) { try Log.open(directory: directory.log(), options: Self.options) }
        #expect(error?.path == directory.log().string)
        // The failed open changed nothing: the first one still works.
        #expect(try log.append(Record("two")) == 1)
        try log.close()
        let reopened = try Log.open(directory: directory.log(), options: Self.options)
        #expect(reopened.nextOffset == 2)
        try reopened.close()
    }

    @Test func theCleanShutdownMarkerLivesOnlyWhileTheLogIsClosed() throws {
        let directory = try TemporaryDirectory()
        let marker = directory.log().appending(Log.cleanShutdownMarker)
        let log = try Log.open(directory: directory.log(), options: Self.options)
        #expect(!fileExists(marker))
        try log.close()
        #expect(fileExists(marker))
        try log.close()  // idempotent
        let reopened = try Log.open(directory: directory.log(), options: Self.options)
        #expect(!fileExists(marker))
        try reopened.close()
    }

    @Test func invalidOptionsAreRefused() throws {
        let directory = try TemporaryDirectory()
        for options in [
            LogOptions(maxSegmentBytes: 10), LogOptions(maxIndexBytes: 4), LogOptions(writeBufferBytes: 100),
            LogOptions(syncPolicy: .interval(milliseconds: 0)),
        ] {
            expectLogStoreError(.invalidArgument) { try Log.open(directory: directory.log(), options: options) }
        }
    }
}
