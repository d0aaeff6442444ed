import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct TimeLookupTests {
    /// The model: the first offset whose timestamp is at or after `time`.
    private func expected(_ timestamps: [Int64], _ time: Int64, lowest: Int = 0) -> Int64? {
        timestamps.indices.first { $0 >= lowest && timestamps[$0] >= time }.map(Int64.init)
    }

    @Test(arguments: testSeeds([1, 2, 3, 4, 5]))
    func matchesAModelOnRandomTimestamps(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 2048, syncPolicy: .never)
        let log = try Log.open(directory: directory.log(), options: options)
        var timestamps: [Int64] = []
        let base: Int64 = 1_795_000_000_000
        while timestamps.count < 600 {
            let batch = (0..<Int.random(in: 1...8, using: &random)).map { _ in
                // Mostly rising, sometimes jumping back, as clocks and producers do.
                Int64.random(in: -5_000...20_000, using: &random) + base + Int64(timestamps.count) * 1_000
            }
            try log.append(batch.map { Record(key: nil, value: [1, 2, 3], timestamp: $0) })
            timestamps += batch
        }
        #expect(try log.segments().count > 3)
        let queries =
            (0..<200).map { _ in base + Int64.random(in: -10_000...700_000, using: &random) } + [
                timestamps.min() ?? 0, timestamps.max() ?? 0, (timestamps.max() ?? 0) + 1,
            ]
        for query in queries {
            #expect(try log.offset(atOrAfter: query) == expected(timestamps, query), "seed \(seed), time \(query)")
        }
        try log.close()
        // The running maximum survives a reopen and an index rebuild after an unclean stop.
        try FileManager.default.removeItem(atPath: directory.log().appending(".clean-shutdown").string)
        let reopened = try Log.open(directory: directory.log(), options: options)
        for query in queries.prefix(50) {
            #expect(try reopened.offset(atOrAfter: query) == expected(timestamps, query), "seed \(seed), time \(query)")
        }
        let removed = try reopened.deleteSegments(below: 200)
        #expect(removed > 0)
        let lowest = Int(reopened.lowestOffset)
        for query in queries.prefix(50) {
            #expect(
                try reopened.offset(atOrAfter: query) == expected(timestamps, query, lowest: lowest),
                "seed \(seed), time \(query)")
        }
        try reopened.close()
    }
}
