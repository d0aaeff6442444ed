import Foundation
import Testing

/// `logd append`, `read`, `stat`, `verify` and `list` doing what the CLI
/// promises, run as a real process against a real data directory.
@Suite("logd commands")
struct CLITests {
    // MARK: append

    @Test func appendPrintsTheOffsetOfEachValueOnItsOwnLine() throws {
        let directory = try TestDirectory()
        let first = try Logd.run(directory.args("append", "events", "one", "two", "three"))
        #expect(first.succeeded, "\(first)")
        #expect(first.output == "0\n1\n2\n", "\(first)")
        #expect(first.errorOutput == "", "\(first)")

        let second = try Logd.run(directory.args("append", "events", "four"))
        #expect(second.succeeded, "\(second)")
        #expect(second.output == "3\n", "offsets continue across runs: \(second)")

        let read = try Logd.run(directory.args("read", "events"))
        #expect(read.succeeded, "\(read)")
        #expect(read.output == textOutput(["one", "two", "three", "four"]), "\(read)")
    }

    @Test func appendTakesEachLineOfStandardInputWhenNoValueIsGiven() throws {
        let directory = try TestDirectory()
        // An empty line is a record with an empty value; a last line without
        // its line feed still counts.
        let values = ["alpha", "beta", "", "gamma δ 日本", "tab\tand\rcarriage", "last without newline"]
        let append = try Logd.run(directory.args("append", "lines"), input: Array(values.joined(separator: "\n").utf8))
        #expect(append.succeeded, "\(append)")
        #expect(append.lines == (0..<values.count).map(String.init), "\(append)")

        let text = try Logd.run(directory.args("read", "lines"))
        #expect(text.succeeded, "\(text)")
        #expect(text.output == textOutput(values), "\(text)")

        let json = try Logd.run(directory.args("read", "lines", "--format", "json"))
        #expect(json.succeeded, "\(json)")
        let objects = try json.lines.map { try parseJSONObject($0) }
        #expect(objects.map { $0["value"] as? String } == values, "\(json)")
        #expect(objects.allSatisfy { $0["key"] is NSNull }, "no --key means a null key: \(json)")
    }

    @Test func appendWithEmptyStandardInputAppendsNothing() throws {
        let directory = try TestDirectory()
        try Logd.run(directory.args("append", "quietlog", "x"))
        let append = try Logd.run(directory.args("append", "quietlog"), input: [])
        #expect(append.succeeded, "\(append)")
        #expect(append.output == "", "\(append)")
        let read = try Logd.run(directory.args("read", "quietlog"))
        #expect(read.output == "x\n", "\(read)")
    }

    @Test func appendSplitsLargeStandardInputIntoLinesExactly() throws {
        let directory = try TestDirectory()
        // Bigger than the pipe buffer and than logd's read chunk, so lines
        // straddle reads and become several batches.
        let values = (0..<20_000).map { "line-\($0)-" + String(repeating: "abcdefghij", count: $0 % 7) }
        let append = try Logd.run(directory.args("append", "big", "--sync", "never"), input: Array(textOutput(values).utf8))
        #expect(append.succeeded, "\(append.description.prefix(2000))")
        #expect(append.lines == (0..<values.count).map(String.init), "one offset per line, in order")

        let read = try Logd.run(directory.args("read", "big"))
        #expect(read.succeeded, "\(read.description.prefix(2000))")
        #expect(read.output == textOutput(values))
    }

    @Test func appendQuietPrintsNothingButStillAppends() throws {
        let directory = try TestDirectory()
        let append = try Logd.run(directory.args("append", "hush", "--quiet", "a", "b"))
        #expect(append.succeeded, "\(append)")
        #expect(append.output == "", "\(append)")
        let fromInput = try Logd.run(directory.args("append", "hush", "--quiet"), input: Array("c\nd\n".utf8))
        #expect(fromInput.succeeded && fromInput.output == "", "\(fromInput)")
        let read = try Logd.run(directory.args("read", "hush"))
        #expect(read.output == textOutput(["a", "b", "c", "d"]), "\(read)")
    }

    @Test(arguments: [
        ["--sync", "always"], ["--sync", "interval", "--sync-interval-ms", "5"], ["--sync", "interval"], ["--sync", "never"],
    ])
    func everySyncPolicyAppendsAndReadsBack(syncArguments: [String]) throws {
        let directory = try TestDirectory()
        let fromInput = sampleValues(200, prefix: "input")
        let append = try Logd.run(directory.args("append", "synced") + syncArguments, input: Array(textOutput(fromInput).utf8))
        #expect(append.succeeded, "\(append)")
        #expect(append.lines == (0..<200).map(String.init), "\(append)")
        let fromArguments = sampleValues(5, prefix: "argument")
        let more = try Logd.run(directory.args("append", "synced") + syncArguments + fromArguments)
        #expect(more.lines == (200..<205).map(String.init), "\(more)")

        let read = try Logd.run(directory.args("read", "synced"))
        #expect(read.output == textOutput(fromInput + fromArguments), "\(read)")
        let verify = try Logd.run(directory.args("verify", "synced"))
        #expect(verify.succeeded, "\(verify)")
    }

    // MARK: read

    @Test func readJSONHasOffsetTimestampKeyValueAndHeaders() throws {
        let directory = try TestDirectory()
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let keyed = try Logd.run(
            directory.args(
                "append", "json", "--key", "user-42", "--header", "source=cli", "--header", "trace=a=b", "--header", "empty=",
                "hello", "wörld \"quoted\"\ttab\\ back", "control\u{01}\u{1f}chars"))
        #expect(keyed.succeeded, "\(keyed)")
        let plain = try Logd.run(directory.args("append", "json", "plain"))
        #expect(plain.succeeded, "\(plain)")
        let after = Int64(Date().timeIntervalSince1970 * 1000)

        let read = try Logd.run(directory.args("read", "json", "--format", "json"))
        #expect(read.succeeded, "\(read)")
        #expect(read.errorOutput == "", "\(read)")
        let objects = try read.lines.map { try parseJSONObject($0) }
        try #require(objects.count == 4, "\(read)")
        let values = ["hello", "wörld \"quoted\"\ttab\\ back", "control\u{01}\u{1f}chars", "plain"]
        for (number, object) in objects.enumerated() {
            #expect(jsonInt(object["offset"]) == Int64(number), "\(object)")
            let timestamp = try #require(jsonInt(object["timestamp"]), "\(object)")
            // Milliseconds since the epoch, taken while the test ran (with slack for clock granularity).
            #expect(timestamp >= before - 1000 && timestamp <= after + 1000, "timestamp \(timestamp) not in \(before)...\(after)")
            #expect(object["value"] as? String == values[number], "\(object)")
            let headers = try #require(object["headers"] as? [String: Any], "\(object)")
            if number < 3 {
                #expect(object["key"] as? String == "user-42", "\(object)")
                #expect(headers.count == 3, "\(object)")
                #expect(headers["source"] as? String == "cli", "\(object)")
                #expect(headers["trace"] as? String == "a=b", "only the first '=' splits: \(object)")
                #expect(headers["empty"] as? String == "", "\(object)")
            } else {
                #expect(object["key"] is NSNull, "\(object)")
                #expect(headers.isEmpty, "\(object)")
            }
            #expect(Set(object.keys) == ["offset", "timestamp", "key", "value", "headers"], "\(object)")
        }
    }

    @Test func readFromAndCountSelectARange() throws {
        let directory = try TestDirectory()
        let values = (0..<10).map { "v\($0)" }
        try #require(try Logd.run(directory.args(["append", "ranged"] + values)).succeeded)

        let middle = try Logd.run(directory.args("read", "ranged", "--from", "3", "--count", "4"))
        #expect(middle.succeeded, "\(middle)")
        #expect(middle.output == textOutput(Array(values[3..<7])), "\(middle)")

        let tail = try Logd.run(directory.args("read", "ranged", "--from", "8", "--format", "json"))
        #expect(try tail.lines.map { jsonInt(try parseJSONObject($0)["offset"]) } == [8, 9], "\(tail)")

        let none = try Logd.run(directory.args("read", "ranged", "--count", "0"))
        #expect(none.succeeded && none.output == "", "\(none)")

        // The next offset is the end: nothing to print, not an error.
        let atEnd = try Logd.run(directory.args("read", "ranged", "--from", "10"))
        #expect(atEnd.succeeded && atEnd.output == "", "\(atEnd)")

        let moreThanThere = try Logd.run(directory.args("read", "ranged", "--from", "7", "--count", "100"))
        #expect(moreThanThere.output == textOutput(Array(values[7...])), "\(moreThanThere)")
    }

    @Test func readSpansManySegments() throws {
        let directory = try TestDirectory()
        let values = sampleValues(300, width: 60)
        let append = try Logd.run(directory.args("append", "segmented", "--segment-bytes", "1024") + values)
        #expect(append.succeeded, "\(append.description.prefix(1000))")
        #expect(try directory.storeFiles("segmented").count > 10)
        let read = try Logd.run(directory.args("read", "segmented"))
        #expect(read.output == textOutput(values))
        let fromMiddle = try Logd.run(directory.args("read", "segmented", "--from", "137", "--count", "50"))
        #expect(fromMiddle.output == textOutput(Array(values[137..<187])), "\(fromMiddle)")
    }

    // MARK: data directory

    @Test func dataDirectoryIsDirThenLOGD_DIRThenLogdDataInTheWorkingDirectory() throws {
        let directory = try TestDirectory()
        let flagDirectory = directory.path + "/from-flag"
        let environmentDirectory = directory.path + "/from-env"
        let working = directory.path + "/work"
        try FileManager.default.createDirectory(atPath: working, withIntermediateDirectories: true)
        let environment = ["LOGD_DIR": environmentDirectory]
        func hasLog(_ data: String, _ name: String) -> Bool {
            ((try? FileManager.default.contentsOfDirectory(atPath: data + "/" + name)) ?? []).contains { $0.hasSuffix(".store") }
        }

        // --dir wins over $LOGD_DIR.
        let flag = try Logd.run(
            ["append", "a", "from-flag", "--dir", flagDirectory], environment: environment, workingDirectory: working)
        #expect(flag.succeeded, "\(flag)")
        #expect(hasLog(flagDirectory, "a"))
        #expect(!FileManager.default.fileExists(atPath: environmentDirectory + "/a"))

        // $LOGD_DIR wins over ./logd-data.
        let fromEnvironment = try Logd.run(["append", "b", "from-env"], environment: environment, workingDirectory: working)
        #expect(fromEnvironment.succeeded, "\(fromEnvironment)")
        #expect(hasLog(environmentDirectory, "b"))
        #expect(!FileManager.default.fileExists(atPath: working + "/logd-data"))

        // Neither: ./logd-data in the working directory (an empty $LOGD_DIR counts as unset).
        let fallback = try Logd.run(["append", "c", "from-default"], workingDirectory: working)
        #expect(fallback.succeeded, "\(fallback)")
        #expect(hasLog(working + "/logd-data", "c"))
        let emptyVariable = try Logd.run(["append", "c", "again"], environment: ["LOGD_DIR": ""], workingDirectory: working)
        #expect(emptyVariable.lines == ["1"], "\(emptyVariable)")

        // Every command resolves it the same way.
        #expect(try Logd.run(["list"], environment: environment, workingDirectory: working).output == "b\n")
        #expect(try Logd.run(["list"], workingDirectory: working).output == "c\n")
        #expect(try Logd.run(["list", "--dir", flagDirectory], environment: environment).output == "a\n")
        #expect(try Logd.run(["read", "b"], environment: environment, workingDirectory: working).output == "from-env\n")
        #expect(try Logd.run(["read", "c"], workingDirectory: working).output == "from-default\nagain\n")
        #expect(try Logd.run(["stat", "c"], workingDirectory: working).succeeded)
        #expect(try Logd.run(["verify", "b"], environment: environment, workingDirectory: working).succeeded)
    }

    // MARK: list

    @Test func listPrintsTheLogsSortedAndNothingElse() throws {
        let directory = try TestDirectory()
        for name in ["zeta", "alpha", "mid-log"] {
            try #require(try Logd.run(directory.args("append", name, "x")).succeeded)
        }
        try FileManager.default.createDirectory(atPath: directory.data + "/not-a-log", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.data + "/.hidden", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: directory.data + "/README", contents: Data("hi".utf8)))
        let list = try Logd.run(directory.args("list"))
        #expect(list.succeeded, "\(list)")
        #expect(list.output == "alpha\nmid-log\nzeta\n", "\(list)")
    }

    // MARK: stat

    @Test func statDescribesSegmentsAsATableAndAsJSON() throws {
        let directory = try TestDirectory()
        let values = sampleValues(60, width: 50)
        try #require(try Logd.run(directory.args(["append", "stats", "--segment-bytes", "1024"] + values)).succeeded)

        let json = try Logd.run(directory.args("stat", "stats", "--json"))
        #expect(json.succeeded, "\(json)")
        try #require(json.lines.count == 1, "\(json)")
        let object = try parseJSONObject(json.lines[0])
        #expect(object["log"] as? String == "stats")
        #expect(jsonInt(object["lowest_offset"]) == 0)
        #expect(jsonInt(object["next_offset"]) == 60)
        #expect(jsonInt(object["records"]) == 60)
        let segments = try #require(object["segments"] as? [[String: Any]], "\(object)")
        #expect(segments.count >= 3, "1024-byte segments must roll: \(object)")
        var expectedBase: Int64 = 0
        var totalBytes: Int64 = 0
        for (number, segment) in segments.enumerated() {
            let base = try #require(jsonInt(segment["base_offset"]))
            let next = try #require(jsonInt(segment["next_offset"]))
            #expect(base == expectedBase, "segments follow each other: \(segments)")
            #expect(jsonInt(segment["records"]) == next - base)
            // Each value was its own append: one batch a record.
            #expect(jsonInt(segment["batches"]) == next - base)
            // One fixed-width index entry a batch.
            let indexBytes = try #require(jsonInt(segment["index_bytes"]))
            #expect(indexBytes > 0 && indexBytes % (next - base) == 0, "\(segment)")
            if let first = segments.first, let firstIndexBytes = jsonInt(first["index_bytes"]),
                let firstBatches = jsonInt(first["batches"])
            {
                #expect(indexBytes / (next - base) == firstIndexBytes / firstBatches, "the same entry size in every segment")
            }
            let storeBytes = try #require(jsonInt(segment["store_bytes"]))
            #expect(storeBytes > 0 && storeBytes <= 1024)
            #expect(segment["active"] as? Bool == (number == segments.count - 1), "only the last segment is active: \(segment)")
            expectedBase = next
            totalBytes += storeBytes + (jsonInt(segment["index_bytes"]) ?? 0)
        }
        #expect(expectedBase == 60)
        #expect(jsonInt(object["total_bytes"]) == totalBytes)

        let table = try Logd.run(directory.args("stat", "stats"))
        #expect(table.succeeded, "\(table)")
        #expect(table.lines.contains("log:           stats"), "\(table)")
        #expect(table.lines.contains("lowest offset: 0"), "\(table)")
        #expect(table.lines.contains("next offset:   60"), "\(table)")
        #expect(table.lines.contains("records:       60"), "\(table)")
        #expect(table.lines.contains("segments:      \(segments.count)"), "\(table)")
        #expect(table.lines.filter { $0.hasSuffix("(active)") }.count == 1, "\(table)")
    }

    // MARK: config

    @Test func configWithSetCreatesAMissingLogWithItsSettings() throws {
        let directory = try TestDirectory()
        let missing = try Logd.run(directory.args("config", "fresh"))
        #expect(missing.exitCode == 1 && missing.errorOutput.contains("no log named 'fresh'"), "\(missing)")
        let bad = try Logd.run(directory.args("config", "fresh", "--set", "retention.ms=soon"))
        #expect(bad.exitCode == 1 && bad.errorOutput.contains("retention.ms"), "\(bad)")
        #expect(!FileManager.default.fileExists(atPath: directory.log("fresh")), "a refused setting creates nothing")

        let created = try Logd.run(
            directory.args("config", "fresh", "--set", "segment.bytes=1024", "--set", "retention.ms=60000"))
        #expect(created.succeeded, "\(created)")
        #expect(created.lines.contains("segment.bytes=1024") && created.lines.contains("retention.ms=60000"), "\(created)")
        // The first appends already roll at the configured segment size.
        for value in sampleValues(5, width: 600) {
            let append = try Logd.run(directory.args("append", "fresh", "--quiet", value))
            #expect(append.succeeded, "\(append)")
        }
        #expect(try directory.storeFiles("fresh").count > 1, "segments of 1024 bytes")
        try directory.expectVerifies("fresh")
    }

    // MARK: verify

    @Test func verifyPassesACleanLog() throws {
        let directory = try TestDirectory()
        let values = sampleValues(40, width: 50)
        try #require(try Logd.run(directory.args(["append", "clean", "--segment-bytes", "1024"] + values)).succeeded)
        let verify = try Logd.run(directory.args("verify", "clean"))
        #expect(verify.succeeded, "\(verify)")
        #expect(verify.errorOutput == "", "\(verify)")
        let summary = try #require(verify.lines.last, "\(verify)")
        #expect(summary.hasPrefix("clean: ok: "), "\(verify)")
        #expect(summary.contains("40 batches, 40 records"), "\(verify)")
        #expect(!verify.output.contains("note:"), "a cleanly closed log has nothing to repair: \(verify)")
    }
}
