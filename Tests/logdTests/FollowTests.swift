import Foundation
import Testing

/// `logd read --follow` in one process sees what `logd append` processes add.
/// Every wait is bounded; followers are killed at the end (they never exit on
/// their own without --count).
@Suite("logd read --follow")
struct FollowTests {
    static let wait = Duration.seconds(20)

    @Test func followSeesRecordsAppendedByOtherProcesses() throws {
        let directory = try TestDirectory()
        try #require(try Logd.run(directory.args("append", "tail", "first-0", "first-1")).succeeded)

        let follower = try Logd.start(directory.args("read", "tail", "--follow"))
        var expected = ["first-0", "first-1"]
        let existing = follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= expected.count }
        #expect(existing == expected, "the follower prints what is there: \(follower.stdout.text) / \(follower.stderr.text)")

        // A separate appender process, run to completion.
        let second = ["second-0", "second-1", "second-2"]
        let append = try Logd.run(directory.args(["append", "tail"] + second))
        #expect(append.lines == ["2", "3", "4"], "\(append)")
        expected += second
        let afterAppend = follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= expected.count }
        #expect(afterAppend == expected, "stdout: \(follower.stdout.text) stderr: \(follower.stderr.text)")

        // A long-running appender fed through its standard input: each batch
        // reaches the follower while the appender is still running.
        let appender = try Logd.start(directory.args("append", "tail", "--sync", "never"))
        for chunk in 0..<3 {
            let lines = (0..<(chunk + 1) * 3).map { "live-\(chunk)-\($0)" }
            #expect(appender.write(Array(textOutput(lines).utf8)) > 0)
            expected += lines
            let seen = follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= expected.count }
            #expect(
                seen == expected, "chunk \(chunk): stdout: \(follower.stdout.text.suffix(500)) stderr: \(follower.stderr.text)")
            #expect(!appender.hasExited, "the appender is still running while the follower sees its records")
        }
        appender.closeInput()
        let appenderEnd = try appender.wait(timeout: Self.wait)
        #expect(appenderEnd == .exited(0), "\(appender.stderr.text)")

        // At the end of the log the follower waits; it does not exit.
        usleep(100_000)
        #expect(!follower.hasExited, "a follower without --count keeps waiting: \(follower.stderr.text)")
        #expect(follower.stdout.completeLines == expected, "nothing printed twice or out of order")
        let end = try follower.kill()
        #expect(end == .signaled(SIGKILL))
        #expect(follower.stderr.text == "", "\(follower.stderr.text)")
    }

    @Test func followCrossesSegmentRollsInJSON() throws {
        let directory = try TestDirectory()
        try #require(try Logd.run(directory.args("append", "rolling", "--segment-bytes", "1024", "seed")).succeeded)
        let follower = try Logd.start(directory.args("read", "rolling", "--follow", "--from", "0", "--format", "json"))
        #expect(follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= 1 } != nil, "\(follower.stderr.text)")

        // Each value its own batch, 1024-byte segments: the appender rolls about every 8 records.
        let values = sampleValues(150, width: 60)
        let append = try Logd.run(directory.args(["append", "rolling", "--segment-bytes", "1024"] + values))
        #expect(append.succeeded, "\(append.description.prefix(1000))")
        #expect(try directory.storeFiles("rolling").count > 10)

        let lines = follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= 151 }
        let seen = try #require(
            lines, "follower saw \(follower.stdout.completeLines.count) of 151; stderr: \(follower.stderr.text)")
        let objects = try seen.map { try parseJSONObject($0) }
        #expect(objects.map { jsonInt($0["offset"]) } == (0...150).map { Int64($0) }, "every offset once, in order")
        #expect(objects.map { $0["value"] as? String } == ["seed"] + values)
        try follower.kill()
    }

    @Test func followWithCountExitsOnceItHasThatMany() throws {
        let directory = try TestDirectory()
        try #require(try Logd.run(directory.args("append", "counted", "one")).succeeded)
        let follower = try Logd.start(directory.args("read", "counted", "--follow", "--count", "3"))
        #expect(follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= 1 } == ["one"], "\(follower.stderr.text)")
        #expect(!follower.hasExited)

        try #require(try Logd.run(directory.args("append", "counted", "two", "three", "four")).succeeded)
        let end = try follower.wait(timeout: Self.wait)
        #expect(end == .exited(0), "\(follower.stderr.text)")
        #expect(follower.stdout.text == "one\ntwo\nthree\n")
    }

    @Test func followFromTheEndPrintsOnlyNewRecords() throws {
        let directory = try TestDirectory()
        try #require(try Logd.run(directory.args("append", "fromend", "old-0", "old-1")).succeeded)
        let follower = try Logd.start(directory.args("read", "fromend", "--follow", "--from", "2"))
        usleep(200_000)
        #expect(follower.stdout.text == "", "nothing before --from")
        #expect(!follower.hasExited, "\(follower.stderr.text)")
        try #require(try Logd.run(directory.args("append", "fromend", "new-0")).succeeded)
        let seen = follower.stdout.waitForLines(timeout: Self.wait) { $0.count >= 1 }
        #expect(seen == ["new-0"], "\(follower.stdout.text) \(follower.stderr.text)")
        try follower.kill()
    }
}
