import Foundation
import Testing

/// `logd append --key-separator` and `--empty-as-null` (kcat's -K and -Z):
/// keyed records and tombstones from lines of text.
@Suite struct KeyedAppendTests {
    /// (key, value) of each record, from `logd read --format json`.
    static func keysAndValues(_ directory: TestDirectory, _ log: String) throws -> [[String?]] {
        let read = try Logd.run(directory.args("read", log, "--format", "json"))
        #expect(read.succeeded, "\(read)")
        return try read.lines.map { line in
            let object = try parseJSONObject(line)
            return [object["key"] as? String, object["value"] as? String]
        }
    }

    @Test func linesSplitAtTheFirstSeparator() throws {
        let directory = try TestDirectory()
        let input = "user-1:{\"a\":1}\nuser-2::x:y\nno separator\n:empty key\nuser-1:\n"
        let append = try Logd.run(directory.args("append", "k", "--key-separator", ":", "--quiet"), input: Array(input.utf8))
        #expect(append.succeeded, "\(append)")
        #expect(
            try Self.keysAndValues(directory, "k") == [
                ["user-1", "{\"a\":1}"], ["user-2", ":x:y"], [nil, "no separator"], ["", "empty key"], ["user-1", ""],
            ])
    }

    @Test func emptyValuesBecomeTombstones() throws {
        let directory = try TestDirectory()
        let input = "a=>1\nb=>2\na=>\n=>keyless\nc=>3=>4\n"
        let append = try Logd.run(
            directory.args("append", "t", "--key-separator", "=>", "--empty-as-null", "--quiet"), input: Array(input.utf8))
        #expect(append.succeeded, "\(append)")
        #expect(
            try Self.keysAndValues(directory, "t") == [["a", "1"], ["b", "2"], ["a", nil], [nil, "keyless"], ["c", "3=>4"]])
        // VALUE arguments split the same way.
        #expect(
            try Logd.run(directory.args("append", "t", "--key-separator", "=>", "--empty-as-null", "d=>", "e=>5", "--quiet"))
                .succeeded)
        #expect(try Self.keysAndValues(directory, "t").suffix(2) == [["d", nil], ["e", "5"]])
    }

    @Test(arguments: [
        (["--key-separator", ""], "--key-separator must not be empty"),
        (["--key-separator", ":", "--key", "k"], "--key and --key-separator exclude each other"),
    ])
    func badKeyOptionsAreUsageErrors(options: [String], message: String) throws {
        let directory = try TestDirectory()
        let result = try Logd.run(directory.args(["append", "k", "x"] + options))
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.errorLines.count == 1 && result.errorLines.first?.contains(message) == true, "\(result)")
    }
}
