import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Cuts and flips at every byte position of a small log (DESIGN.md rules 1
/// and 2): a torn tail is cut, damage is reported, and nothing read back is
/// ever different from what was written.
@Suite struct CorruptionTests {
    static let options = LogOptions(maxSegmentBytes: 700, maxIndexBytes: 4096, syncPolicy: .never, writeBufferBytes: 4096)

    /// A closed log of a few segments (the last one, active, with several
    /// batches), and what it holds.
    static func smallLog(in directory: borrowing TemporaryDirectory) throws -> (image: DirectoryImage, model: LogModel) {
        let log = try Log.open(directory: directory.log("original"), options: options)
        var model = LogModel()
        var generator = SeededGenerator(seed: 4242)
        for number in 0..<17 {
            let count = number % 3 + 1
            let batch = (0..<count).map { index in
                Record(
                    key: index == 1 ? nil : Array("k\(number)".utf8),
                    value: generator.bytes(Int.random(in: 0...40, using: &generator)),
                    headers: index == 2 ? [RecordHeader("h", "\(number)")] : [], timestamp: 1_000_000 + Int64(number))
            }
            try model.append(batch, to: log)
        }
        try log.close()
        let image = try DirectoryImage(of: directory.log("original"))
        return (image, model)
    }

    /// Opens `image` at a fresh path, or returns the error opening threw.
    static func open(_ image: DirectoryImage, at path: FilePath) throws -> Result<Log, LogStoreError> {
        try image.materialize(at: path)
        do {
            return .success(try Log.open(directory: path, options: options))
        } catch let error as LogStoreError {
            return .failure(error)
        }
    }

    /// Reads every offset: each read is the original record or a corruption
    /// error, never other data. Returns how many reads reported corruption.
    static func readEverything(_ log: Log, _ model: LogModel, _ comment: String) -> Int {
        var corrupt = 0
        for offset in model.baseOffset..<min(log.nextOffset, model.nextOffset) {
            do {
                let stored = try log.read(at: offset)
                #expect(model.matches(stored), "\(comment): offset \(offset) read back different data")
            } catch let error as LogStoreError where error.code == .corruption {
                corrupt += 1
            } catch {
                Issue.record("\(comment): offset \(offset): \(error)")
            }
        }
        do {
            let all = try log.read(from: model.baseOffset, maxRecords: Int.max, maxBytes: Int.max)
            #expect(all.allSatisfy(model.matches), "\(comment): read(from:) returned different data")
            #expect(
                all.count == Int(log.nextOffset - model.baseOffset),
                "\(comment): read(from:) returned \(all.count) records without an error")
        } catch let error as LogStoreError where error.code == .corruption {
            corrupt += 1
        } catch {
            Issue.record("\(comment): read(from:): \(error)")
        }
        return corrupt
    }

    /// Byte positions to damage: every one when `stride` is 1, else every
    /// `stride`-th (starting at `phase`) plus every byte of the first and
    /// last batch headers, where the fields with the most cases live.
    static func positions(_ count: Int, stride: Int, phase: Int = 0, batches: [(position: Int, header: BatchHeader)]) -> [Int] {
        var chosen = Set(Swift.stride(from: phase % stride, to: count, by: stride))
        for batch in [batches.first, batches.last].compactMap({ $0 }) {
            chosen.formUnion(batch.position..<min(count, batch.position + BatchLayout.headerSize))
        }
        return chosen.sorted()
    }

    /// The partition leader epoch (bytes 12..<16 of a batch) is the one field
    /// outside the CRC that no reader checks: changing it changes no data.
    static func isUncheckedEpochByte(_ position: Int, in batches: [(position: Int, header: BatchHeader)]) -> Bool {
        batches.contains { (12..<16).contains(position - $0.position) }
    }

    @Test func cuttingTheActiveStoreAtEveryPositionKeepsEveryWholeBatch() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let (image, model) = try Self.smallLog(in: directory)
        let activeStore = try #require(image.storeNames.last)
        #expect(image.storeNames.count >= 3)
        let store = try #require(image.files[activeStore])
        let batches = batchLayout(of: store)
        #expect(batches.count >= 3)
        let segmentBase = try #require(Segment.baseOffset(fileName: activeStore, suffix: "store"))
        for cut in 0...store.count {
            var damaged = image
            damaged.files[activeStore] = Array(store[0..<cut])
            damaged.files[Log.cleanShutdownMarker] = nil
            let path = directory.log("cut-\(cut)")
            let log = try Self.open(damaged, at: path).get()
            let whole = batches.last { $0.position + $0.header.size <= cut }
            let expectedNext = whole?.header.nextOffset ?? segmentBase
            #expect(log.nextOffset == expectedNext, "cut at \(cut)")
            #expect(Self.readEverything(log, model, "cut at \(cut)") == 0)
            #expect(try log.append(Record("after the cut")) == expectedNext, "cut at \(cut)")
            #expect(try log.read(at: expectedNext).value == Array("after the cut".utf8))
            try log.close()
            try FileManager.default.removeItem(atPath: path.string)
        }
    }

    /// In sealed data and in the active store of a cleanly closed log, a
    /// changed byte is reported by open or by the reads of its batch.
    @Test(arguments: ["first sealed", "active, clean", "first sealed, unclean"])
    func aFlippedStoreByteIsReportedNeverReturned(which: String) throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let (image, model) = try Self.smallLog(in: directory)
        let storeName = try #require(which.hasPrefix("active") ? image.storeNames.last : image.storeNames.first)
        let store = try #require(image.files[storeName])
        let batches = batchLayout(of: store)
        let phase = ["first sealed", "active, clean", "first sealed, unclean"].firstIndex(of: which) ?? 0
        for position in Self.positions(store.count, stride: 3, phase: phase, batches: batches) {
            var damaged = image
            damaged.files[storeName]?[position] ^= 0x5A
            if which.hasSuffix("unclean") { damaged.files[Log.cleanShutdownMarker] = nil }
            let comment = "\(which) store \(storeName), byte \(position)"
            let path = directory.log("flip-\(position)")
            try damaged.materialize(at: path)
            let report = try Log.verify(directory: path)
            let silent = Self.isUncheckedEpochByte(position, in: batches)
            #expect(report.isClean == silent, "\(comment): verify \(report.problems)")
            try FileManager.default.removeItem(atPath: path.string)
            switch try Self.open(damaged, at: path) {
            case .success(let log):
                #expect(log.nextOffset == model.nextOffset, "\(comment)")
                let corrupt = Self.readEverything(log, model, comment)
                #expect((corrupt == 0) == silent, "\(comment): \(corrupt) reads reported corruption")
                try log.close()
            case .failure(let error):
                #expect(error.code == .corruption, "\(comment): \(error)")
                #expect(!silent, "\(comment): \(error)")
                #expect(error.path == path.appending(storeName).string, "\(comment): \(error)")
            }
            try FileManager.default.removeItem(atPath: path.string)
        }
    }

    /// After an unclean stop the active store is rescanned: damage in its
    /// last batch looks like a torn write and is cut; damage with good
    /// batches after it fails the open, naming file, offset and position.
    @Test func aFlippedByteInTheActiveStoreAfterAnUncleanStop() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let (image, model) = try Self.smallLog(in: directory)
        let storeName = try #require(image.storeNames.last)
        let store = try #require(image.files[storeName])
        let batches = batchLayout(of: store)
        let lastBatch = try #require(batches.last)
        for position in 0..<store.count {
            var damaged = image
            damaged.files[storeName]?[position] ^= 0x5A
            damaged.files[Log.cleanShutdownMarker] = nil
            let comment = "active store, unclean, byte \(position)"
            let path = directory.log("flip-\(position)")
            let batch = try #require(batches.last { $0.position <= position })
            let result = try Self.open(damaged, at: path)
            if Self.isUncheckedEpochByte(position, in: batches) {
                let log = try result.get()
                #expect(log.nextOffset == model.nextOffset, "\(comment)")
                #expect(Self.readEverything(log, model, comment) == 0)
                try log.close()
            } else if batch.position == lastBatch.position {
                let log = try result.get()
                #expect(log.nextOffset == lastBatch.header.baseOffset, "\(comment): the torn tail is cut")
                #expect(Self.readEverything(log, model, comment) == 0)
                #expect(try log.append(Record("x")) == lastBatch.header.baseOffset)
                try log.close()
            } else {
                switch result {
                case .success(let log):
                    Issue.record("\(comment): mid-log damage was not reported (next offset \(log.nextOffset))")
                    try log.close()
                case .failure(let error):
                    #expect(error.code == .corruption, "\(comment)")
                    #expect(error.path == path.appending(storeName).string, "\(comment)")
                    #expect(error.position == Int64(batch.position), "\(comment): \(error)")
                    #expect(error.offset == batch.header.baseOffset, "\(comment): \(error)")
                }
            }
            try FileManager.default.removeItem(atPath: path.string)
        }
    }

    /// A damaged index is a damaged cache: opening rebuilds it or reads
    /// report corruption, and no read returns another record's data.
    @Test(arguments: ["first sealed", "active"])
    func aFlippedIndexByteNeverYieldsWrongData(which: String) throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let (image, model) = try Self.smallLog(in: directory)
        let indexName = try #require(which == "active" ? image.indexNames.last : image.indexNames.first)
        let index = try #require(image.files[indexName])
        #expect(index.count >= 3 * SegmentIndex.entrySize)
        for position in 0..<index.count {
            for flip: UInt8 in [position % 2 == 0 ? 0x01 : 0x80] {
                var damaged = image
                damaged.files[indexName]?[position] ^= flip
                let comment = "\(which) index \(indexName), byte \(position) ^ \(flip)"
                let path = directory.log("flip-\(position)-\(flip)")
                switch try Self.open(damaged, at: path) {
                case .success(let log):
                    #expect(log.nextOffset == model.nextOffset, "\(comment)")
                    _ = Self.readEverything(log, model, comment)
                    #expect(try log.append(Record("more")) == model.nextOffset, "\(comment)")
                    try log.close()
                case .failure(let error):
                    #expect(error.code == .corruption, "\(comment): \(error)")
                }
                try FileManager.default.removeItem(atPath: path.string)
            }
        }
    }
}
