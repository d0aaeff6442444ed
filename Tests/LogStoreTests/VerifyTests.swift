import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct VerifyTests {
    static let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never, writeBufferBytes: 4096)

    static func makeLog(_ directory: borrowing TemporaryDirectory) throws -> LogModel {
        let log = try Log.open(directory: directory.log(), options: options)
        var model = LogModel()
        for number in 0..<60 { try model.append([Record("record \(number)"), Record(key: nil, value: nil)], to: log) }
        try log.close()
        return model
    }

    @Test func aGoodClosedLogIsClean() throws {
        let directory = try TemporaryDirectory()
        let model = try Self.makeLog(directory)
        let report = try Log.verify(directory: directory.log())
        #expect(report.isClean, "\(report.problems)")
        #expect(report.notes.isEmpty, "\(report.notes)")
        #expect(report.records == model.nextOffset)
        #expect(report.batches == 60)
        #expect(report.segments == (try DirectoryImage(of: directory.log())).storeNames.count)
        #expect(report.segments > 2)
    }

    @Test func aFlippedByteInASealedSegmentIsNamed() throws {
        let directory = try TemporaryDirectory()
        _ = try Self.makeLog(directory)
        var image = try DirectoryImage(of: directory.log())
        let storeName = try #require(image.storeNames.dropLast().last)
        let store = try #require(image.files[storeName])
        let batches = batchLayout(of: store)
        let damagedBatch = batches[batches.count / 2]
        image.files[storeName]?[damagedBatch.position + BatchLayout.headerSize + 3] ^= 0x10
        try image.materialize(at: directory.log("damaged"))
        let report = try Log.verify(directory: directory.log("damaged"))
        #expect(!report.isClean)
        let problem = try #require(report.problems.first)
        #expect(problem.file == directory.log("damaged").appending(storeName).string)
        #expect(problem.offset == damagedBatch.header.baseOffset)
        #expect(problem.position == Int64(damagedBatch.position))
        #expect(problem.description.contains("CRC-32C mismatch"))
        #expect(problem.description.contains("position \(damagedBatch.position)"))
        // Opening does not paper over it: the damaged batch reads as corruption.
        let log = try Log.open(directory: directory.log("damaged"), options: Self.options)
        let error = expectLogStoreError(.corruption) { try log.read(at: damagedBatch.header.baseOffset) }
        #expect(error?.position == Int64(damagedBatch.position))
        try log.close()
    }

    @Test func aTornTailAfterACrashIsANoteNotAProblem() throws {
        let directory = try TemporaryDirectory()
        _ = try Self.makeLog(directory)
        var image = try DirectoryImage(of: directory.log())
        let storeName = try #require(image.storeNames.last)
        image.files[storeName]?.removeLast(5)
        image.files[Log.cleanShutdownMarker] = nil
        try image.materialize(at: directory.log("torn"))
        let report = try Log.verify(directory: directory.log("torn"))
        #expect(report.isClean, "\(report.problems)")
        #expect(report.notes.contains { $0.contains("torn tail") })
        // With the clean marker, the same cut is damage.
        var marked = image
        marked.files[Log.cleanShutdownMarker] = []
        try marked.materialize(at: directory.log("torn-clean"))
        #expect(!(try Log.verify(directory: directory.log("torn-clean"))).isClean)
    }

    @Test func aDamagedSealedIndexIsAProblem() throws {
        let directory = try TemporaryDirectory()
        _ = try Self.makeLog(directory)
        var image = try DirectoryImage(of: directory.log())
        let indexName = try #require(image.indexNames.first)
        image.files[indexName]?[SegmentIndex.entrySize + 5] ^= 0x01  // the second entry's position
        try image.materialize(at: directory.log("bad-index"))
        let report = try Log.verify(directory: directory.log("bad-index"))
        #expect(report.problems.contains { $0.file == directory.log("bad-index").appending(indexName).string })
    }

    @Test(arguments: ["zeros", "missing", "half"])
    func aSealedIndexAnInterruptedRebuildLeftIsANoteAfterACrashAndTheOpenRebuildsIt(state: String) throws {
        let directory = try TemporaryDirectory()
        let model = try Self.makeLog(directory)
        var image = try DirectoryImage(of: directory.log())
        let indexName = try #require(image.indexNames.dropLast().last, "a sealed segment's index")
        let entries = try #require(image.files[indexName])
        switch state {
        case "zeros": image.files[indexName] = entries + [UInt8](repeating: 0, count: 50 * SegmentIndex.entrySize)
        case "missing": image.files[indexName] = nil
        default:  // killed while appending the entries into a preallocated file
            image.files[indexName] =
                Array(entries.prefix(SegmentIndex.entrySize)) + [UInt8](repeating: 0, count: 50 * SegmentIndex.entrySize)
        }
        image.files[Log.cleanShutdownMarker] = nil
        try image.materialize(at: directory.log("crashed"))
        let report = try Log.verify(directory: directory.log("crashed"))
        #expect(report.isClean, "\(report.problems)")
        #expect(!report.notes.isEmpty)
        let log = try Log.open(directory: directory.log("crashed"), options: Self.options)
        try model.expectLogMatches(log)
        try log.close()
        let reopened = try Log.verify(directory: directory.log("crashed"))
        #expect(reopened.isClean && reopened.notes.isEmpty, "\(reopened.problems) \(reopened.notes)")
        // After a clean stop the same index is damage.
        image.files[Log.cleanShutdownMarker] = []
        try image.materialize(at: directory.log("clean"))
        #expect(!(try Log.verify(directory: directory.log("clean"))).isClean)
    }

    @Test func verifyRefusesAnOpenLog() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: Self.options)
        try log.append(Record("x"))
        expectLogStoreError(.unavailable) { try Log.verify(directory: directory.log()) }
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
