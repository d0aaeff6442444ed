import Foundation
import Testing

@testable import LogStore

/// The superseded offsets the key-map pass marks, so that the clean pass
/// decides those records without a second hash or a key-map lookup: the
/// compacted bytes are exactly those of the lookups alone.
@Suite struct SupersededOffsetsTests {
    @Test func marksOnlyTheCoveredOffsets() {
        var superseded = SupersededOffsets(start: 100, limit: 130)
        for offset: Int64 in [100, 163, 164, 229, 230, 99, -5, .max] { superseded.insert(offset) }
        #expect(superseded.contains(99) == nil && superseded.contains(230) == nil, "outside: the caller looks up")
        #expect(superseded.contains(100) == true && superseded.contains(163) == true && superseded.contains(164) == true)
        #expect(superseded.contains(229) == true)
        #expect(superseded.contains(101) == false && superseded.contains(200) == false)
        superseded.reset(start: 200)
        #expect(superseded.contains(229) == false && superseded.contains(199) == nil && superseded.contains(329) == false)
        #expect(SupersededOffsets(start: 0, limit: 0).contains(0) == nil)
    }

    /// One log, compacted with no superseded offsets (every keyed record looked
    /// up in the key map), with a few (both ways in one pass) and with the
    /// default: the same store and index bytes, over several passes when the
    /// key map is small, with and without gzip.
    @Test(arguments: testSeeds([1, 2, 3]))
    func compactsToTheSameBytesAsKeyMapLookups(seed: UInt64) throws {
        let directory = try TemporaryDirectory()
        var generator = SeededGenerator(seed: seed)
        let compression: Compression = seed % 2 == 0 ? .gzip(level: 1) : .none
        let options = CompactionTests.options(compression: compression)
        let keys = [40, 300][Int(seed % 2)]
        let timestamp: Int64 = 1_000_000
        do {
            let log = try Log.open(directory: directory.log(), options: options)
            for round in 0..<200 {
                _ = try log.append(
                    CompactionTests.randomBatch(&generator, keys: keys, timestamp: timestamp + Int64(round % 3)))
            }
            try log.close()
        }
        let original = try DirectoryImage(of: directory.log())
        #expect(original.storeNames.count > 3)
        for capacity in [7, 64, 100_000] {
            // The tombstones of every third round are past their retention.
            let now = timestamp + options.deleteRetentionMilliseconds + 1
            var images: [Int: DirectoryImage] = [:]
            for limit in [0, 5, Int.max] {
                let copy = directory.log("copy-\(capacity)-\(limit)")
                try original.materialize(at: copy)
                let log = try Log.open(directory: copy, options: options)
                let report = try log.compact(now: now, keyMapCapacity: capacity, supersededLimit: limit)
                try log.close()
                #expect(report.recordsAfter < report.recordsBefore, "capacity \(capacity) limit \(limit)")
                images[limit] = try DirectoryImage(of: copy)
            }
            let lookups = try #require(images[0])
            for (limit, image) in images {
                #expect(image.storeNames == lookups.storeNames && image.indexNames == lookups.indexNames)
                for name in lookups.storeNames + lookups.indexNames {
                    let same = image.files[name] == lookups.files[name]
                    #expect(same, "capacity \(capacity) limit \(limit): \(name) differs")
                }
            }
        }
    }
}
