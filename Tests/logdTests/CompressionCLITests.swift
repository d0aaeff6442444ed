import Foundation
import Testing

/// `logd append --compression`, the `compression.type` setting and what
/// `logd stat` shows of stored versus raw bytes.
@Suite struct CompressionCLITests {
    static func changeLines(_ range: Range<Int>) -> [String] {
        range.map { number in
            "{\"op\":\"u\",\"table\":\"public.accounts\",\"key\":{\"id\":\(number % 50)},\"after\":{\"id\":\(number % 50),\"owner\":\"user-\(number % 50)\",\"balance\":\(number * 7)}}"
        }
    }

    @Test func gzipAppendsReadBackAndStatShowsTheSaving() throws {
        let directory = try TestDirectory()
        let first = Self.changeLines(0..<200)
        let append = try Logd.run(
            directory.args("append", "cdc", "--compression", "gzip", "--quiet"), input: Array(textOutput(first).utf8))
        #expect(append.succeeded, "\(append)")
        // The log's setting compresses later appends without the flag; --compression none overrides it.
        #expect(try Logd.run(directory.args("config", "cdc", "--set", "compression.type=gzip")).succeeded)
        let second = Self.changeLines(200..<400)
        #expect(try Logd.run(directory.args("append", "cdc", "--quiet"), input: Array(textOutput(second).utf8)).succeeded)
        let plain = Self.changeLines(400..<450)
        #expect(
            try Logd.run(
                directory.args("append", "cdc", "--compression", "none", "--quiet"), input: Array(textOutput(plain).utf8)
            )
            .succeeded)

        let read = try Logd.run(directory.args("read", "cdc"))
        #expect(read.lines == first + second + plain, "\(read.errorOutput)")
        let stat = try Logd.run(directory.args("stat", "cdc", "--json"))
        let object = try parseJSONObject(stat.lines.first ?? "")
        let stored = try #require(jsonInt(object["stored_bytes"]))
        let raw = try #require(jsonInt(object["raw_bytes"]))
        #expect(jsonInt(object["stored_records"]) == 450)
        #expect((jsonInt(object["compressed_batches"]) ?? 0) >= 2, "\(stat)")
        #expect(raw > stored * 2, "raw \(raw), stored \(stored)")
        let text = try Logd.run(directory.args("stat", "cdc"))
        #expect(text.lines.contains { $0.hasPrefix("stored:") && $0.contains("gzip") }, "\(text)")
        #expect(try Logd.run(directory.args("verify", "cdc")).succeeded)
    }

    @Test func unknownCompressionIsAUsageError() throws {
        let directory = try TestDirectory()
        let result = try Logd.run(directory.args("append", "cdc", "--compression", "zstd", "x"))
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.errorLines.count == 1 && result.errorLines.first?.contains("zstd") == true, "\(result)")
    }
}
