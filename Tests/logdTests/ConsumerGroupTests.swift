import AsyncTestSupport
import Foundation
import LogStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `logd read --group`, `logd groups`, `logd config` and `logd retain`, run as
/// real processes.
@Suite struct ConsumerGroupTests {
    static let wait: Duration = .seconds(20)

    /// The offsets of the complete JSON lines a consumer printed.
    private func offsets(_ lines: [String], values: [String]) throws -> [Int64] {
        try lines.map { line in
            let object = try parseJSONObject(line)
            let offset = try #require(jsonInt(object["offset"]))
            #expect(object["value"] as? String == values[Int(offset)], "offset \(offset)")
            return offset
        }
    }

    /// A consumer killed with SIGKILL at random moments while a producer
    /// appends: across restarts the group sees every record, in order, with no
    /// gap; records after its last commit may be seen twice (at least once).
    @Test func killedConsumerNeverSkipsARecord() async throws {
        try await offPool { try killedConsumerNeverSkipsARecordBlocking() }
    }

    func killedConsumerNeverSkipsARecordBlocking() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["LOGD_CONSUMER_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        print("killedConsumerNeverSkipsARecord seed \(seed) (LOGD_CONSUMER_SEED reruns it)")
        var random = SeededGenerator(seed: seed)
        let directory = try TemporaryDirectoryForGroups()
        let values = sampleValues(4000, prefix: "event", width: 120)
        let producer = try Logd.start(
            directory.args("append", "events", "--sync", "never", "--segment-bytes", "65536", "--quiet"))
        let feed = values.map { $0 + "\n" }
        producer.feedInBackground { descriptor in
            var index = 0
            while index < feed.count {
                // About 2.5 s of appends, so that the consumers below are killed while it runs.
                let chunk = Array(feed[index..<min(index + 20, feed.count)].joined().utf8)
                guard ChildProcess.write(chunk, to: descriptor) == chunk.count else { return }
                index += 20
                usleep(12_000)
            }
        }
        #expect(
            directory.waitForLog("events", timeout: Self.wait), "the producer did not create the log: \(producer.stderr.text)")

        var delivered: Int64 = 0  // one past the highest offset seen so far
        var rounds = 0
        while rounds < 20 {
            rounds += 1
            let consumer = try Logd.start(directory.args("read", "events", "--group", "audit", "--follow", "--format", "json"))
            usleep(UInt32.random(in: 20_000...120_000, using: &random))
            _ = try consumer.kill()
            let seen = try offsets(consumer.stdout.completeLines, values: values)
            guard let first = seen.first else { continue }
            // Resumes at or before where the last run got to: never past it.
            #expect(first <= delivered, "seed \(seed) round \(rounds): started at \(first) after delivering up to \(delivered)")
            // In order, without gaps, within a run.
            #expect(seen == Array(first..<first + Int64(seen.count)), "seed \(seed) round \(rounds)")
            delivered = max(delivered, first + Int64(seen.count))
        }
        print("killedConsumerNeverSkipsARecord: \(rounds) killed consumers delivered up to offset \(delivered)")
        producer.waitForWriter()
        producer.closeInput()
        #expect(try producer.wait(timeout: Self.wait) == .exited(0), "\(producer.stderr.text)")
        // A last run to the end sees the rest, starting no later than where the others stopped.
        let last = try Logd.run(directory.args("read", "events", "--group", "audit", "--format", "json"))
        #expect(last.succeeded, "\(last)")
        let rest = try offsets(last.lines, values: values)
        let start = rest.first ?? delivered
        #expect(start <= delivered, "seed \(seed): final run started at \(start) after \(delivered)")
        #expect(rest == Array(start..<Int64(values.count)), "seed \(seed)")
        let groups = try Logd.run(directory.args("groups", "events"))
        #expect(
            groups.lines.contains { $0.hasPrefix("audit") && $0.contains("\(values.count)") && $0.hasSuffix(" 0") }, "\(groups)")
        try directory.base.expectVerifies("events")
    }

    @Test func groupsConfigRetainAndResetPolicies() throws {
        let directory = try TemporaryDirectoryForGroups()
        let values = sampleValues(300, prefix: "row", width: 60)
        let append = try Logd.run(
            directory.args("append", "rows", "--segment-bytes", "2048", "--quiet"),
            input: Array(values.map { $0 + "\n" }.joined().utf8))
        #expect(append.succeeded, "\(append)")
        // One batch per stdin read: force small batches by appending the rest value by value.
        for value in values.prefix(5) {
            #expect(try Logd.run(directory.args("append", "rows", "--segment-bytes", "2048", "--quiet", value)).succeeded)
        }
        let all = values + values.prefix(5)

        let first = try Logd.run(directory.args("read", "rows", "--group", "a", "--count", "10"))
        #expect(first.lines == Array(all.prefix(10)), "\(first)")
        let second = try Logd.run(directory.args("read", "rows", "--group", "a", "--count", "3"))
        #expect(second.lines == Array(all[10..<13]), "\(second)")
        let peek = try Logd.run(directory.args("read", "rows", "--group", "a", "--count", "3", "--no-commit"))
        #expect(peek.lines == Array(all[13..<16]), "\(peek)")
        var groups = try Logd.run(directory.args("groups", "rows"))
        #expect(groups.lines.count == 2, "\(groups)")
        #expect(groups.lines.last?.split(separator: " ").map(String.init) == ["a", "13", "\(all.count - 13)"], "\(groups)")

        // Retention removes the group's committed offset.
        let config = try Logd.run(directory.args("config", "rows", "--set", "retention.bytes=3000"))
        #expect(config.succeeded && config.lines.contains("retention.bytes=3000"), "\(config)")
        let retain = try Logd.run(directory.args("retain", "rows"))
        #expect(retain.succeeded, "\(retain)")
        let stat = try parseJSONObject(try Logd.run(directory.args("stat", "rows", "--json")).output)
        let lowest = try #require(jsonInt(stat["lowest_offset"]))
        #expect(lowest > 13, "\(stat)")

        let failing = try Logd.run(directory.args("read", "rows", "--group", "a", "--reset-policy", "fail"))
        #expect(failing.exitCode == 1, "\(failing)")
        #expect(failing.errorLines.first?.contains("below the oldest retained offset \(lowest)") == true, "\(failing)")
        #expect(failing.output.isEmpty)
        let earliest = try Logd.run(directory.args("read", "rows", "--group", "a", "--count", "1"))
        #expect(earliest.lines == [all[Int(lowest)]], "\(earliest)")

        let reset = try Logd.run(directory.args("groups", "rows", "--reset", "b", "--to", "latest"))
        #expect(reset.succeeded, "\(reset)")
        let none = try Logd.run(directory.args("read", "rows", "--group", "b"))
        #expect(none.succeeded && none.lines.isEmpty, "\(none)")
        let moved = try Logd.run(directory.args("groups", "rows", "--reset", "b", "--to", String(all.count - 2)))
        #expect(moved.succeeded, "\(moved)")
        let tail = try Logd.run(directory.args("read", "rows", "--group", "b"))
        #expect(tail.lines == Array(all.suffix(2)), "\(tail)")
        groups = try Logd.run(directory.args("groups", "rows"))
        #expect(groups.lines.last?.split(separator: " ").map(String.init) == ["b", "\(all.count)", "0"], "\(groups)")

        // Time: everything was appended just now.
        let fromPast = try Logd.run(directory.args("read", "rows", "--from-time", "2020-01-01T00:00:00Z", "--count", "1"))
        #expect(fromPast.lines == [all[Int(lowest)]], "\(fromPast)")
        let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3600))
        let fromFuture = try Logd.run(directory.args("read", "rows", "--from-time", future))
        #expect(fromFuture.succeeded && fromFuture.lines.isEmpty, "\(fromFuture)")
    }

    @Test(arguments: [
        (["config", "rows", "--set", "retention.bytes=lots"], "retention.bytes must be a whole number"),
        (["config", "rows", "--set", "cleanup.policy=sometimes"], "cleanup.policy must be delete or compact"),
        (["config", "rows", "--set", "compression.type=lz4"], "compression.type must be none or gzip"),
        (["config", "rows", "--set", "nosuch.setting=1"], "unknown setting 'nosuch.setting'"),
        (["config", "rows", "--set", "segment.bytes=10"], "segment.bytes must be at least 1024"),
        (["config", "rows", "--set", "nokey"], "is not of the form key=value"),
        (["read", "rows", "--group", "g", "--from", "3"], "--group starts at the group's offset"),
        (["read", "rows", "--group", "../g"], "consumer group name '../g'"),
        (["read", "rows", "--no-commit"], "--no-commit goes with --group"),
        (["read", "rows", "--from-time", "yesterday"], "neither ISO 8601"),
        (["read", "rows", "--group", "g", "--reset-policy", "sometimes"], "sometimes"),
        (["groups", "rows", "--reset", "g"], "--reset and --to go together"),
        (["groups", "rows", "--reset", "g", "--to", "soon"], "--to must be an offset, earliest or latest"),
    ])
    func badGroupAndConfigInputIsOneClearError(arguments: [String], message: String) throws {
        let directory = try TemporaryDirectoryForGroups()
        #expect(try Logd.run(directory.args("append", "rows", "a", "b", "--quiet")).succeeded)
        let result = try Logd.run(directory.args(arguments))
        #expect(result.exitCode != 0 && result.exitCode != nil, "\(result)")
        #expect(result.errorLines.count == 1, "\(result)")
        #expect(result.errorLines.first?.contains(message) == true, "\(result)")
        let read = try Logd.run(directory.args("read", "rows"))
        #expect(read.lines == ["a", "b"], "stored data must be intact: \(read)")
        let config = try Logd.run(directory.args("config", "rows"))
        #expect(config.lines.allSatisfy { $0.hasSuffix("(default)") }, "a rejected setting must not be stored: \(config)")
    }
}

/// `TestDirectory` plus a wait for a log to appear.
final class TemporaryDirectoryForGroups {
    let base: TestDirectory

    init() throws { base = try TestDirectory() }

    func args(_ arguments: String...) -> [String] { base.args(arguments) }
    func args(_ arguments: [String]) -> [String] { base.args(arguments) }

    /// Waits until the log has a segment file.
    func waitForLog(_ name: String, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? base.storeFiles(name).isEmpty) == false { return true }
            usleep(5000)
        }
        return false
    }
}
