import AsyncTestSupport
import Foundation
import LogStore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// kill -9 against `logd compact`, round after round: each round appends
/// more keyed updates and deletes, starts a compaction (small key map: several
/// passes, many segment swaps) and kills it at a random moment. After every
/// kill the log verifies, and every key's latest value read back is the one
/// last appended; the next round's process finishes or rolls back the
/// interrupted compaction when it opens the log.
///
/// Random choices come from one seed, printed at the start; set
/// `LOGD_CRASH_SEED` to replay a run.
@Suite("logd compact survives kill -9")
struct CompactionCrashTests {
    static let seed = crashTestSeed

    /// Each key's latest value as `logd read` shows it (nil: a tombstone).
    static func latestValues(_ directory: TestDirectory) throws -> [String: String?] {
        let read = try Logd.run(directory.args("read", "compacted", "--format", "json"))
        try #require(read.succeeded, "\(read)")
        var latest: [String: String?] = [:]
        for line in read.lines {
            let object = try parseJSONObject(line)
            guard let key = object["key"] as? String else { continue }
            latest[key] = .some(object["value"] as? String)
        }
        return latest
    }

    @Test func compactionKilledAtRandomMomentsLeavesTheLatestValues() async throws {
        try await offPool { try compactionKilledAtRandomMomentsBlocking() }
    }

    func compactionKilledAtRandomMomentsBlocking() throws {
        print("compaction crash test: seed \(Self.seed) (replay with LOGD_CRASH_SEED=\(Self.seed))")
        var random = SeededGenerator(seed: Self.seed)
        let directory = try TestDirectory()
        var expected: [String: String?] = [:]
        var longestRun: Duration = .milliseconds(50)
        var killedRunning = 0
        for round in 0..<12 {
            let context = "seed \(Self.seed), round \(round)"
            // More updates and deletes (empty values are tombstones).
            var lines: [String] = []
            for number in 0..<600 {
                let key = "row-\(Int.random(in: 0..<150, using: &random))"
                let delete = Int.random(in: 0..<10, using: &random) == 0
                let value =
                    delete ? "" : "r\(round).\(number):" + String(repeating: "v", count: Int.random(in: 0...80, using: &random))
                lines.append(key + "\t" + value)
                expected[key] = .some(delete ? nil : value)
            }
            let append = try Logd.run(
                directory.args(
                    "append", "compacted", "--key-separator", "\t", "--empty-as-null", "--segment-bytes", "4096", "--quiet"),
                input: Array(textOutput(lines).utf8))
            try #require(append.succeeded, "\(context): \(append)")

            let started = ContinuousClock.now
            let compaction = try Logd.start(
                directory.args("compact", "compacted", "--key-map-keys", String(Int.random(in: 5...60, using: &random))))
            compaction.closeInput()
            // Round 0 runs to the end and times a whole compaction; later kills land anywhere in one.
            let wholeRun = Double(
                longestRun.components.attoseconds / 1_000_000_000_000 + longestRun.components.seconds * 1_000_000)
            let delay = Double.random(in: 0...1.1, using: &random) * wholeRun
            if round > 0 { usleep(UInt32(min(delay, 5_000_000))) }
            if round == 0 || compaction.hasExited {
                let termination = try compaction.wait(timeout: .seconds(30))
                #expect(termination == .exited(0), "\(context): compact failed: \(compaction.stderr.text)")
                longestRun = max(longestRun, ContinuousClock.now - started)
            } else {
                _ = try compaction.kill()
                killedRunning += 1
            }

            let verify = try Logd.run(directory.args("verify", "compacted"))
            #expect(verify.succeeded, "\(context): verify after kill -9: \(verify)")
            let latest = try Self.latestValues(directory)
            #expect(latest == expected, "\(context): latest values differ after kill -9")
            guard latest == expected else { return }
        }
        // A last, complete compaction: the same values, fewer records.
        let finish = try Logd.run(directory.args("compact", "compacted"))
        #expect(finish.succeeded && finish.output.contains("rewrote"), "\(finish)")
        #expect(try Self.latestValues(directory) == expected)
        let verify = try Logd.run(directory.args("verify", "compacted"))
        #expect(verify.succeeded && !verify.output.contains("note:"), "\(verify)")
        print("compaction crash test: \(killedRunning) of 11 compactions killed while running (a whole one took \(longestRun))")
        #expect(killedRunning > 0)
    }
}
