import Foundation
import Logging
import Testing

/// For logs the tests open in-process: recovery notes stay out of the test
/// output; warnings and errors still show.
let quietLogger: Logger = {
    var logger = Logger(label: "logd-tests")
    logger.logLevel = .warning
    return logger
}()

/// A fresh temporary directory for one test, removed when dropped. `data` is
/// the data directory the test passes with `--dir`.
final class TestDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("logd-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var data: String { path + "/data" }

    /// The directory of the log `name` in the data directory.
    func log(_ name: String) -> String { data + "/" + name }

    /// `--dir <data>` after `arguments`.
    func args(_ arguments: String...) -> [String] { args(arguments) }

    func args(_ arguments: [String]) -> [String] { arguments + ["--dir", data] }

    /// The store files of `name`, oldest segment first.
    func storeFiles(_ name: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: log(name)).filter { $0.hasSuffix(".store") }.sorted().map {
            log(name) + "/" + $0
        }
    }
}

/// One line of `logd read --format json` or `logd stat --json`, parsed.
func parseJSONObject(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(object as? [String: Any], "not a JSON object: \(line)", sourceLocation: sourceLocation)
}

/// A JSON number as an Int64 (nil for anything else).
func jsonInt(_ value: Any?) -> Int64? {
    (value as? NSNumber)?.int64Value
}

/// The records `logd read` (text) must print for `values`: each value and a line feed.
func textOutput(_ values: [String]) -> String {
    values.map { $0 + "\n" }.joined()
}

/// `count` distinct values, long enough to fill small segments quickly.
func sampleValues(_ count: Int, prefix: String = "value", width: Int = 40) -> [String] {
    (0..<count).map { number in
        let head = "\(prefix)-\(number)-"
        return head + String(repeating: "x", count: max(0, width - head.count))
    }
}

/// The seed of a randomized crash test run: `LOGD_CRASH_SEED` replays one, else a fresh random one.
let crashTestSeed: UInt64 = {
    if let text = ProcessInfo.processInfo.environment["LOGD_CRASH_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 1...UInt64.max)
}()

extension TestDirectory {
    /// `logd verify <name>` passes: every test that writes a log ends with it.
    func expectVerifies(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verify = try Logd.run(args("verify", name))
        #expect(verify.succeeded, "verify \(name): \(verify)", sourceLocation: sourceLocation)
    }
}
