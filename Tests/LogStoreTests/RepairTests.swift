import Foundation
import Logging
import SystemPackage
import Testing

@testable import LogStore

/// `Log.repair`: a byte flipped anywhere in a store is moved aside into a
/// quarantine file, exactly, and the log opens again with every batch before
/// the damage (and every later segment) as it was written.
@Suite struct RepairTests {
    /// Repair and recovery report at info; the thousands of cases here stay quiet.
    static let logger: Logger = {
        var logger = Logger(label: "repair-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// The log of `CorruptionTests` (a few segments of several batches each,
    /// closed cleanly), with the base offset of each store.
    struct Fixture {
        var image: DirectoryImage
        var model: LogModel

        init(in directory: borrowing TemporaryDirectory) throws {
            let log = try CorruptionTests.smallLog(in: directory)
            image = log.image
            model = log.model
            try #require(image.storeNames.count >= 3, "\(image.storeNames)")
        }

        func base(of storeName: String) throws -> Int64 {
            try #require(Segment.baseOffset(fileName: storeName, suffix: "store"))
        }

        /// `image` with a byte of the second store flipped, written at `path`
        /// and repaired; what repair did to that store.
        func repaired(byte: Int, at path: FilePath) throws -> RepairReport.SegmentRepair {
            _ = try damaged(image.storeNames[1], byte: byte, at: path)
            let report = try Log.repair(directory: path, logger: RepairTests.logger)
            try #require(report.repairs.count == 1, "\(report)")
            return report.repairs[0]
        }

        /// `image` with `byte` of store `storeName` flipped, written at `path`.
        func damaged(_ storeName: String, byte: Int, at path: FilePath) throws -> DirectoryImage {
            var damaged = image
            damaged.files[storeName]?[byte] ^= 0x5A
            try damaged.materialize(at: path)
            return damaged
        }
    }

    /// `repair` with its files named without their directory, to compare repairs of copies.
    static func withFileNames(_ repair: RepairReport.SegmentRepair) -> RepairReport.SegmentRepair {
        var named = repair
        named.store = FilePath(repair.store).lastComponent?.string ?? repair.store
        named.quarantineFile = repair.quarantineFile.map { FilePath($0).lastComponent?.string ?? $0 }
        return named
    }

    static func open(_ path: FilePath) throws -> Log {
        try Log.open(directory: path, options: CorruptionTests.options, logger: logger)
    }

    /// `Log.verify` finds no damage and nothing for the next open to do.
    static func expectVerifies(_ path: FilePath, _ comment: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let report = try Log.verify(directory: path)
        #expect(report.problems.isEmpty, "\(comment): \(report.problems)", sourceLocation: sourceLocation)
        #expect(report.notes.isEmpty, "\(comment): \(report.notes)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ["sealed, in the middle", "active"])
    func aFlippedByteAnywhereInAStoreIsMovedAsideAndTheRestKept(which: String) throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let stores = fixture.image.storeNames
        let storeName = which == "active" ? stores[stores.count - 1] : stores[1]
        let store = try #require(fixture.image.files[storeName])
        let batches = batchLayout(of: store)
        try #require(batches.count >= 3 && batches.last.map { $0.position + $0.header.size } == store.count)
        let segmentBase = try fixture.base(of: storeName)
        let later = try stores.drop { $0 != storeName }.dropFirst().map { try fixture.base(of: $0) }
        let model = fixture.model

        for byte in 0..<store.count {
            let comment = "\(which) \(storeName), byte \(byte)"
            let path = directory.log("flip-\(byte)")
            let damaged = try fixture.damaged(storeName, byte: byte, at: path)
            let report = try Log.repair(directory: path, logger: Self.logger)
            if CorruptionTests.isUncheckedEpochByte(byte, in: batches) {
                // Outside the CRC and unchecked: no damage, nothing changes.
                #expect(report.nothingToRepair, "\(comment)")
                #expect(try DirectoryImage(of: path).files == damaged.files, "\(comment)")
                try Self.expectVerifies(path, comment)
                try FileManager.default.removeItem(atPath: path.string)
                continue
            }
            let batch = try #require(batches.last { $0.position <= byte })
            let lost = batch.header.baseOffset
            try #require(report.repairs.count == 1, "\(comment): \(report)")
            let repair = report.repairs[0]
            #expect(repair.baseOffset == segmentBase && repair.keptBytes == Int64(batch.position), "\(comment)")
            #expect(repair.firstLostOffset == lost && repair.problem != nil, "\(comment)")
            #expect(repair.keptBatches == batches.count(where: { $0.position < batch.position }), "\(comment)")

            // The quarantine file holds exactly the store's bytes from the damaged batch on.
            let quarantine = path.appending(Segment.fileName(baseOffset: segmentBase, suffix: "damaged-\(lost)"))
            #expect(repair.quarantineFile == quarantine.string, "\(comment)")
            let flipped = try #require(damaged.files[storeName])
            #expect(try readBytes(quarantine) == Array(flipped[batch.position...]), "\(comment)")
            #expect(repair.bytesMoved == Int64(store.count - batch.position), "\(comment)")
            // The batches after the damaged one are still recognisable in it.
            let after = batches.filter { $0.position > batch.position }
            if let first = after.first, let last = after.last {
                let expected = RepairReport.BatchRun(
                    firstOffset: first.header.baseOffset, lastOffset: last.header.lastOffset, batches: after.count,
                    records: after.reduce(0) { $0 + Int64($1.header.recordCount) }, position: Int64(batch.header.size))
                #expect(repair.recognisedAfterDamage == [expected], "\(comment)")
            } else {
                #expect(repair.recognisedAfterDamage.isEmpty, "\(comment)")
            }
            // The other stores are untouched.
            for other in stores where other != storeName {
                #expect(try readBytes(path.appending(other)) == fixture.image.files[other], "\(comment): \(other)")
            }
            try Self.expectVerifies(path, comment)

            let log = try Self.open(path)
            for offset in model.baseOffset..<lost {
                #expect(model.matches(try log.read(at: offset)), "\(comment): offset \(offset)")
            }
            if let nextBase = later.first {
                // The lost offsets are covered by an empty batch; the later segments read as written.
                #expect(repair.filledOffsets == lost..<nextBase && repair.lostOffsetsEnd == nextBase, "\(comment)")
                #expect(log.nextOffset == model.nextOffset, "\(comment)")
                #expect(try log.read(at: lost).offset == nextBase, "\(comment): a lost offset reads as the next record")
                let rest = try log.read(from: nextBase, maxRecords: Int.max, maxBytes: Int.max)
                #expect(rest.map(\.offset) == Array(nextBase..<model.nextOffset), "\(comment)")
                #expect(rest.allSatisfy(model.matches), "\(comment)")
            } else if let last = after.last {
                // The last segment: the offsets up to the last recognisable batch are covered, never reused.
                let end = last.header.lastOffset + 1
                #expect(repair.filledOffsets == lost..<end && repair.lostOffsetsEnd == end, "\(comment)")
                #expect(log.nextOffset == end, "\(comment)")
            } else {
                #expect(repair.filledOffsets == nil && log.nextOffset == lost, "\(comment)")
            }
            let end = log.nextOffset
            #expect(try log.append(Record("after the repair")) == end, "\(comment)")
            #expect(try log.read(at: end).value == Array("after the repair".utf8), "\(comment)")
            try log.close()
            try Self.expectVerifies(path, comment)
            try FileManager.default.removeItem(atPath: path.string)
        }
    }

    /// An index is a cache `open` rebuilds or reads around: repair looks at stores only.
    @Test(arguments: ["first sealed", "active"])
    func damageInAnIndexAloneIsLeftAsItIs(which: String) throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let indexName = try #require(which == "active" ? fixture.image.indexNames.last : fixture.image.indexNames.first)
        let index = try #require(fixture.image.files[indexName])
        for byte in 0..<index.count {
            let comment = "\(which) \(indexName), byte \(byte)"
            var damaged = fixture.image
            damaged.files[indexName]?[byte] ^= 0x5A
            let path = directory.log("flip-\(byte)")
            try damaged.materialize(at: path)
            let before = try Log.verify(directory: path)
            let report = try Log.repair(directory: path, logger: Self.logger)
            #expect(report.nothingToRepair && report.notes.isEmpty, "\(comment): \(report)")
            #expect(try DirectoryImage(of: path).files == damaged.files, "\(comment)")
            let after = try Log.verify(directory: path)
            #expect(after.problems.map(\.description) == before.problems.map(\.description), "\(comment)")
            #expect(after.problems.allSatisfy { $0.file.hasSuffix(".index") }, "\(comment): \(after.problems)")
            try FileManager.default.removeItem(atPath: path.string)
        }
    }

    @Test func aDryRunChangesNothingAndReportsThePlan() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let stores = fixture.image.storeNames
        var damaged = fixture.image
        // Two segments at once: a sealed one and the active one.
        for storeName in [stores[0], stores[stores.count - 1]] {
            let batches = batchLayout(of: try #require(fixture.image.files[storeName]))
            damaged.files[storeName]?[batches[1].position + BatchLayout.headerSize] ^= 0x01
        }
        let path = directory.log()
        try damaged.materialize(at: path)

        let plan = try Log.repair(directory: path, dryRun: true, logger: Self.logger)
        #expect(plan.dryRun && plan.repairs.count == 2 && plan.segments == stores.count, "\(plan)")
        #expect(try DirectoryImage(of: path).files == damaged.files, "a dry run changes no byte")
        let done = try Log.repair(directory: path, logger: Self.logger)
        #expect(done.repairs == plan.repairs && !done.dryRun)
        #expect(try DirectoryImage(of: path).files != damaged.files)
        try Self.expectVerifies(path, "after the repair")
    }

    @Test func aSecondRepairIsANoOp() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let path = directory.log()
        _ = try Fixture(in: directory).repaired(byte: 70, at: path)
        let repaired = try DirectoryImage(of: path)
        let again = try Log.repair(directory: path, logger: Self.logger)
        #expect(again.nothingToRepair && again.notes.isEmpty, "\(again)")
        #expect(try DirectoryImage(of: path).files == repaired.files)
        try Self.expectVerifies(path, "after two repairs")
    }

    @Test func aLogWithoutDamageIsLeftAsItIs() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let path = directory.log()
        try fixture.image.materialize(at: path)
        let report = try Log.repair(directory: path, logger: Self.logger)
        #expect(report.nothingToRepair && report.segments == fixture.image.storeNames.count, "\(report)")
        #expect(try DirectoryImage(of: path).files == fixture.image.files)
        try Self.expectVerifies(path, "untouched")
    }

    /// flock locks belong to an open file description: a second one in this
    /// process is refused as another process's would be.
    @Test func aLogOpenElsewhereIsRefused() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let path = directory.log()
        let storeName = fixture.image.storeNames[0]
        let batches = batchLayout(of: try #require(fixture.image.files[storeName]))
        let damaged = try fixture.damaged(storeName, byte: batches[1].position + 70, at: path)
        // Open trusts the sealed index after a clean close, so it opens despite the damage.
        let log = try Self.open(path)
        expectLogStoreError(.unavailable) { try Log.repair(directory: path, logger: Self.logger) }
        expectLogStoreError(.unavailable) { try Log.repair(directory: path, dryRun: true, logger: Self.logger) }
        try log.close()
        #expect(try readBytes(path.appending(storeName)) == damaged.files[storeName])
        #expect(try Log.repair(directory: path, logger: Self.logger).repairs.count == 1)
        try Self.expectVerifies(path, "repaired once closed")
    }

    @Test func aMissingLogIsAnInvalidArgument() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        expectLogStoreError(.invalidArgument) { try Log.repair(directory: directory.log("missing"), logger: Self.logger) }
        try FileManager.default.createDirectory(atPath: directory.log("empty").string, withIntermediateDirectories: false)
        expectLogStoreError(.invalidArgument) { try Log.repair(directory: directory.log("empty"), logger: Self.logger) }
        #expect(!fileExists(directory.log("empty").appending(Log.lockFileName)))
    }

    /// What a crash can leave midway, each finished by running repair again
    /// into the same files as one uninterrupted repair.
    @Test(arguments: ["quarantine half written", "quarantine written", "index and marker removed", "store replaced"])
    func aRepairInterruptedAnywhereIsFinishedByRunningItAgain(state: String) throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let fixture = try Fixture(in: directory)
        let storeName = fixture.image.storeNames[1]
        let whole = directory.log("whole")
        let batches = batchLayout(of: try #require(fixture.image.files[storeName]))
        let damaged = try fixture.damaged(storeName, byte: batches[1].position + 65, at: whole)
        let repair = try #require(try Log.repair(directory: whole, logger: Self.logger).repairs.first)
        let repaired = try DirectoryImage(of: whole)
        let quarantineName = try #require(repair.quarantineFile.flatMap { FilePath($0).lastComponent?.string })
        let indexName = storeName.replacingOccurrences(of: ".store", with: ".index")

        var crashed = damaged
        let quarantine = repaired.files[quarantineName]
        switch state {
        case "quarantine half written":
            crashed.files[quarantineName + ".tmp"] = quarantine.map { Array($0.prefix($0.count / 2)) }
        case "quarantine written":
            crashed.files[quarantineName] = quarantine
        case "index and marker removed":
            crashed.files[quarantineName] = quarantine
            crashed.files[indexName] = nil
            crashed.files[Log.cleanShutdownMarker] = nil
        default:
            crashed = repaired
            crashed.files[indexName] = nil
        }
        let path = directory.log("crashed")
        try crashed.materialize(at: path)
        let report = try Log.repair(directory: path, logger: Self.logger)
        if state == "store replaced" {
            // Nothing left to repair; the next open rebuilds the index.
            #expect(report.nothingToRepair, "\(report)")
            #expect(try DirectoryImage(of: path).files == crashed.files)
            let log = try Self.open(path)
            #expect(log.nextOffset == fixture.model.nextOffset)
            try log.close()
            #expect(try Log.verify(directory: path).problems.isEmpty)
        } else {
            #expect(report.repairs.map(Self.withFileNames) == [Self.withFileNames(repair)], "\(state)")
            #expect(try DirectoryImage(of: path).files == repaired.files, "\(state)")
            try Self.expectVerifies(path, state)
        }
    }

    /// A later repair never overwrites an earlier quarantine with other bytes.
    @Test func anEarlierQuarantineOfTheSameNameIsKept() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let path = directory.log()
        let first = try Fixture(in: directory).repaired(byte: 90, at: path)
        let storeName = FilePath(first.store).lastComponent?.string ?? ""
        let firstQuarantine = try #require(first.quarantineFile)
        let firstBytes = try readBytes(FilePath(firstQuarantine))

        // The empty batch that now covers the lost offsets is damaged in turn.
        var store = try readBytes(path.appending(storeName))
        store[Int(first.keptBytes) + 30] ^= 0x01
        try writeBytes(store, to: path.appending(storeName))
        let second = try #require(try Log.repair(directory: path, logger: Self.logger).repairs.first)
        #expect(second.firstLostOffset == first.firstLostOffset)
        #expect(second.quarantineFile == firstQuarantine + ".2")
        #expect(try readBytes(FilePath(firstQuarantine)) == firstBytes)
        #expect(try readBytes(FilePath(firstQuarantine + ".2")) == Array(store[Int(first.keptBytes)...]))
        try Self.expectVerifies(path, "after the second repair")
    }

    /// A quarantine file is never taken for a segment: open, verify, readers
    /// in other processes, retention and compaction pass it by.
    @Test func aQuarantineFileIsNeverASegment() throws {
        let directory = try TemporaryDirectory(inMemory: true)
        let path = directory.log()
        let fixture = try Fixture(in: directory)
        let repair = try fixture.repaired(byte: 90, at: path)
        let quarantine = try FilePath(#require(repair.quarantineFile))
        let moved = try readBytes(quarantine)

        let reader = try Log.openForReading(directory: path)
        #expect(reader.nextOffset == fixture.model.nextOffset)
        try reader.close()
        var options = CorruptionTests.options
        options.retentionBytes = 1
        let log = try Log.open(directory: path, options: options, logger: Self.logger)
        try log.compact()
        #expect(try log.applyRetention() > 0)
        try log.close()
        #expect(try readBytes(quarantine) == moved)
        try Self.expectVerifies(path, "after compaction and retention")
        #expect(try Log.repair(directory: path, logger: Self.logger).nothingToRepair)
    }
}
