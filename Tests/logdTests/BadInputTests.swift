import Foundation
import LogStore
import Logging
import SystemPackage
import Testing

/// Every mistake gets one clear `Error:` line on stderr, a non-zero exit, no
/// output, and leaves the stored data as it was.
@Suite("logd on bad input")
struct BadInputTests {
    /// A failed run as the CLI promises it: exit 1 (not a crash), nothing on
    /// stdout, and exactly one `Error:` line, first on stderr, naming the
    /// problem (ArgumentParser may follow it with a usage hint).
    static func expectCleanFailure(
        _ result: LogdResult, mentioning fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            result.exitCode != nil && result.exitCode != 0, "must fail with an exit code: \(result)",
            sourceLocation: sourceLocation)
        #expect(result.output == "", "nothing on stdout: \(result)", sourceLocation: sourceLocation)
        let errors = result.errorLines.filter { $0.hasPrefix("Error:") }
        #expect(errors.count == 1, "exactly one error line: \(result)", sourceLocation: sourceLocation)
        #expect(result.errorLines.first == errors.first, "the error line comes first: \(result)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(
                errors.first?.contains(fragment) == true, "the error names \"\(fragment)\": \(result)",
                sourceLocation: sourceLocation)
        }
    }

    /// A data directory with the log `keep` holding a, b, c.
    static func directoryWithKeptLog() throws -> TestDirectory {
        let directory = try TestDirectory()
        let append = try Logd.run(directory.args("append", "keep", "a", "b", "c"))
        try #require(append.succeeded, "\(append)")
        return directory
    }

    /// `keep` still holds exactly a, b, c, and is the only log.
    static func expectKeptLogIntact(_ directory: TestDirectory, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let read = try Logd.run(directory.args("read", "keep", "--format", "json"))
        #expect(read.succeeded, "\(read)", sourceLocation: sourceLocation)
        let values = try read.lines.map { try parseJSONObject($0)["value"] as? String }
        #expect(values == ["a", "b", "c"], "\(read)", sourceLocation: sourceLocation)
        let verify = try Logd.run(directory.args("verify", "keep"))
        #expect(verify.succeeded, "\(verify)", sourceLocation: sourceLocation)
        let list = try Logd.run(directory.args("list"))
        #expect(list.output == "keep\n", "no log appeared: \(list)", sourceLocation: sourceLocation)
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(entries == ["data"], "nothing appeared beside the data directory: \(entries)", sourceLocation: sourceLocation)
    }

    struct BadName: Sendable, CustomTestStringConvertible {
        var name: String
        var problem: String
        var testDescription: String { "log name \"\(name)\"" }
    }

    static let badNames: [BadName] = [
        BadName(name: "", problem: "log name is empty"),
        BadName(name: ".", problem: "must not start with '.'"),
        BadName(name: "..", problem: "must not start with '.'"),
        BadName(name: ".hidden", problem: "must not start with '.'"),
        BadName(name: "a/b", problem: "must not contain '/'"),
        BadName(name: "../escape", problem: "must not start with '.'"),
        BadName(name: "x/../../escape", problem: "must not contain '/'"),
        BadName(name: String(repeating: "n", count: 250), problem: "longer than 249 bytes"),
    ]

    @Test(arguments: badNames)
    func invalidLogNamesAreRefusedByEveryCommand(bad: BadName) throws {
        let directory = try Self.directoryWithKeptLog()
        for command in [["append", bad.name, "value"], ["read", bad.name], ["stat", bad.name], ["verify", bad.name]] {
            let result = try Logd.run(directory.args(command))
            Self.expectCleanFailure(result, mentioning: [bad.problem])
        }
        let fromInput = try Logd.run(directory.args("append", bad.name), input: Array("line\n".utf8))
        Self.expectCleanFailure(fromInput, mentioning: [bad.problem])
        try Self.expectKeptLogIntact(directory)
    }

    @Test func anUnknownLogIsNamedAndNotCreated() throws {
        let directory = try Self.directoryWithKeptLog()
        for command in ["read", "stat", "verify"] {
            let result = try Logd.run(directory.args(command, "nope"))
            Self.expectCleanFailure(result, mentioning: ["'nope'"])
        }
        let follow = try Logd.run(directory.args("read", "nope", "--follow"), timeout: .seconds(20))
        Self.expectCleanFailure(follow, mentioning: ["'nope'"])
        #expect(!FileManager.default.fileExists(atPath: directory.log("nope")))
        try Self.expectKeptLogIntact(directory)
    }

    @Test func readingPastTheEndIsAnErrorThatNamesTheNextOffset() throws {
        let directory = try Self.directoryWithKeptLog()
        for from in ["4", "1000", String(Int64.max)] {
            let result = try Logd.run(directory.args("read", "keep", "--from", from))
            Self.expectCleanFailure(result, mentioning: ["offset \(from)", "next offset 3"])
        }
        try Self.expectKeptLogIntact(directory)
    }

    struct BadFlags: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var mentioning: [String]
        /// Whether `--dir` is added (not after an unknown subcommand, which would be the first complaint).
        var passesDirectory = true
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let badFlags: [BadFlags] = [
        BadFlags(arguments: ["append", "keep", "--header", "novalue", "x"], mentioning: ["novalue"]),
        BadFlags(arguments: ["append", "keep", "--header", "=v", "x"], mentioning: ["=v"]),
        BadFlags(arguments: ["append", "keep", "--header", "ok=1", "--header", "bad", "x"], mentioning: ["bad"]),
        BadFlags(arguments: ["append", "keep", "--sync", "sometimes", "x"], mentioning: ["sometimes"]),
        BadFlags(arguments: ["append", "keep", "--sync"], mentioning: ["--sync"]),
        BadFlags(arguments: ["append", "keep", "--sync-interval-ms", "0", "x"], mentioning: ["--sync-interval-ms"]),
        BadFlags(arguments: ["append", "keep", "--segment-bytes", "10", "x"], mentioning: ["--segment-bytes"]),
        BadFlags(arguments: ["append", "keep", "--segment-bytes", "lots", "x"], mentioning: ["lots"]),
        BadFlags(arguments: ["append", "keep", "--bogus", "x"], mentioning: ["--bogus"]),
        BadFlags(arguments: ["read", "keep", "--from", "-1"], mentioning: ["--from"]),
        BadFlags(arguments: ["read", "keep", "--from", "two"], mentioning: ["two"]),
        BadFlags(arguments: ["read", "keep", "--count", "-1"], mentioning: ["--count"]),
        BadFlags(arguments: ["read", "keep", "--format", "xml"], mentioning: ["xml"]),
        BadFlags(arguments: ["stat", "keep", "--yaml"], mentioning: ["--yaml"]),
        BadFlags(arguments: ["frobnicate", "keep"], mentioning: ["frobnicate"], passesDirectory: false),
    ]

    @Test(arguments: badFlags)
    func malformedFlagsAreRefusedBeforeAnythingIsWritten(bad: BadFlags) throws {
        let directory = try Self.directoryWithKeptLog()
        let result = try Logd.run(bad.passesDirectory ? directory.args(bad.arguments) : bad.arguments)
        Self.expectCleanFailure(result, mentioning: bad.mentioning)
        try Self.expectKeptLogIntact(directory)
    }

    @Test func malformedFlagsWithStandardInputAppendNothing() throws {
        let directory = try Self.directoryWithKeptLog()
        let result = try Logd.run(directory.args("append", "keep", "--header", "novalue"), input: Array("d\ne\n".utf8))
        Self.expectCleanFailure(result, mentioning: ["novalue"])
        try Self.expectKeptLogIntact(directory)
    }

    @Test func anUnwritableDataDirectoryIsNamed() throws {
        let directory = try Self.directoryWithKeptLog()
        let regularFile = directory.data + "/keep-notes.txt"
        #expect(FileManager.default.createFile(atPath: regularFile, contents: Data("notes".utf8)))
        let unwritable = ["/dev/null/x", regularFile + "/sub", regularFile]
        for data in unwritable {
            let append = try Logd.run(["append", "fresh", "value", "--dir", data])
            Self.expectCleanFailure(append, mentioning: [data])
            let fromInput = try Logd.run(["append", "fresh", "--dir", data], input: Array("line\n".utf8))
            Self.expectCleanFailure(fromInput, mentioning: [data])
            let read = try Logd.run(["read", "fresh", "--dir", data])
            Self.expectCleanFailure(read, mentioning: ["'fresh'"])
            let list = try Logd.run(["list", "--dir", data])
            Self.expectCleanFailure(list, mentioning: [data])
        }
        // Through $LOGD_DIR too.
        let viaEnvironment = try Logd.run(["append", "fresh", "value"], environment: ["LOGD_DIR": "/dev/null/x"])
        Self.expectCleanFailure(viaEnvironment, mentioning: ["/dev/null/x"])

        #expect(try String(contentsOfFile: regularFile, encoding: .utf8) == "notes", "the file in the way is untouched")
        try FileManager.default.removeItem(atPath: regularFile)
        try Self.expectKeptLogIntact(directory)
    }

    @Test func aLogOpenInAnotherProcessIsNotWrittenOrVerified() throws {
        let directory = try Self.directoryWithKeptLog()
        let holder = try Log.open(directory: FilePath(directory.log("keep")), logger: quietLogger)
        let append = try Logd.run(directory.args("append", "keep", "d"))
        Self.expectCleanFailure(append, mentioning: ["open in another process"])
        let verify = try Logd.run(directory.args("verify", "keep"))
        Self.expectCleanFailure(verify, mentioning: ["open in another process"])
        // Reading alongside the writer is allowed.
        let read = try Logd.run(directory.args("read", "keep"))
        #expect(read.output == "a\nb\nc\n", "\(read)")
        try holder.close()
        try Self.expectKeptLogIntact(directory)
    }

    @Test func listWithoutADataDirectoryIsAnError() throws {
        let directory = try TestDirectory()
        let list = try Logd.run(directory.args("list"))
        Self.expectCleanFailure(list, mentioning: [directory.data])
        #expect(!FileManager.default.fileExists(atPath: directory.data), "reading commands create nothing")
    }

    @Test func readingBelowTheOldestRetainedOffsetIsAClearError() throws {
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.data, withIntermediateDirectories: true)
        let values = sampleValues(40, width: 50)
        let log = try Log.open(
            directory: FilePath(directory.log("retained")), options: LogOptions(maxSegmentBytes: 512), logger: quietLogger)
        for value in values { try log.append(Record(value)) }
        #expect(try log.deleteSegments(below: 20) > 0)
        let lowest = log.lowestOffset
        try log.close()
        try #require(lowest > 0 && lowest <= 20, "retention removed the first segments (lowest \(lowest))")

        for from in ["0", String(lowest - 1)] {
            let read = try Logd.run(directory.args("read", "retained", "--from", from), timeout: .seconds(20))
            Self.expectCleanFailure(read, mentioning: ["below the oldest retained offset", "oldest retained offset \(lowest)"])
            let follow = try Logd.run(directory.args("read", "retained", "--from", from, "--follow"), timeout: .seconds(20))
            Self.expectCleanFailure(follow, mentioning: ["below the oldest retained offset"])
        }

        // Without --from, reading starts at the oldest retained record.
        let read = try Logd.run(directory.args("read", "retained"))
        #expect(read.succeeded, "\(read)")
        #expect(read.output == textOutput(Array(values[Int(lowest)...])), "\(read)")
        let json = try Logd.run(directory.args("read", "retained", "--from", String(lowest), "--count", "1", "--format", "json"))
        #expect(try jsonInt(parseJSONObject(json.lines.first ?? "{}")["offset"]) == lowest, "\(json)")
        let stat = try Logd.run(directory.args("stat", "retained", "--json"))
        let object = try parseJSONObject(stat.lines.first ?? "")
        #expect(jsonInt(object["lowest_offset"]) == lowest && jsonInt(object["next_offset"]) == 40, "\(stat)")
        let verify = try Logd.run(directory.args("verify", "retained"))
        #expect(verify.succeeded, "\(verify)")
        let append = try Logd.run(directory.args("append", "retained", "next"))
        #expect(append.output == "40\n", "\(append)")
    }
}
