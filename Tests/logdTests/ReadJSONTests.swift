import Foundation
import LogStore
import SystemPackage
import Testing

/// `logd read --format json` loses nothing: bytes that are not UTF-8 come out
/// in base64, marked; `--value-format json` embeds JSON documents; `logd
/// create` makes a log with its settings.
@Suite struct ReadJSONTests {
    /// The bytes of a field of a JSON line: decoded from base64 when its encoding says so.
    static func bytes(_ object: [String: Any], _ field: String, encoding: String?) throws -> [UInt8]? {
        guard let value = object[field], !(value is NSNull) else { return nil }
        let text = try #require(value as? String, "\(field) is not a string: \(object)")
        if encoding == "base64" { return Array(try #require(Data(base64Encoded: text), "not base64: \(text)")) }
        return Array(text.utf8)
    }

    @Test(arguments: [1, 2, 3])
    func randomBinaryKeysValuesAndHeadersRoundTripByteForByte(seed: UInt64) throws {
        let directory = try TestDirectory()
        var random = SeededGenerator(seed: seed)
        func randomBytes() -> [UInt8]? {
            if Int.random(in: 0..<10, using: &random) == 0 { return nil }
            let length = Int.random(in: 0..<40, using: &random)
            // Mostly text, so that both paths (string and base64) are taken.
            return (0..<length).map { _ in
                Bool.random(using: &random)
                    ? UInt8.random(in: 0x20...0x7E, using: &random) : UInt8.random(in: 0...255, using: &random)
            }
        }
        var records: [Record] = []
        for _ in 0..<300 {
            var headers: [RecordHeader] = []
            if Bool.random(using: &random) { headers.append(RecordHeader(key: "h", value: randomBytes())) }
            records.append(Record(key: randomBytes(), value: randomBytes(), headers: headers))
        }
        try Log.createDirectory(FilePath(directory.data))
        let log = try Log.open(directory: FilePath(directory.log("bin")), logger: quietLogger)
        for batch in stride(from: 0, to: records.count, by: 7) {
            try log.append(Array(records[batch..<min(batch + 7, records.count)]))
        }
        try log.close()

        for valueFormat in ["string", "base64"] {
            let read = try Logd.run(directory.args("read", "bin", "--format", "json", "--value-format", valueFormat))
            #expect(read.succeeded, "\(read)")
            let lines = read.lines
            #expect(lines.count == records.count)
            for (record, line) in zip(records, lines) {
                let object = try parseJSONObject(line)
                let keyEncoding = object["key_encoding"] as? String
                let valueEncoding = object["value_encoding"] as? String
                #expect(try Self.bytes(object, "key", encoding: keyEncoding) == record.key, "\(line)")
                #expect(try Self.bytes(object, "value", encoding: valueEncoding) == record.value, "\(line)")
                if valueFormat == "base64" { #expect(record.value == nil || valueEncoding == "base64") }
                if let value = record.value, valueFormat == "string" {
                    // base64 only when the bytes are not UTF-8.
                    #expect((valueEncoding == "base64") == (String(validating: value, as: UTF8.self) == nil))
                }
                let headers = try #require(object["headers"] as? [String: Any])
                let headerEncoding = (object["header_encodings"] as? [String: String])?["h"]
                #expect(
                    try record.headers.first.map { _ in try Self.bytes(headers, "h", encoding: headerEncoding) }
                        == record.headers.first.map(\.value), "\(line)")
            }
        }
        try directory.expectVerifies("bin")
    }

    @Test func valueFormatJSONEmbedsDocumentsMinifiedAndFallsBackToStrings() throws {
        let directory = try TestDirectory()
        let values = [
            "{\"id\": 1,\n \"tags\": [\"a\", \"b\\n\"], \"nested\": {\"x\": -2.5e-3, \"t\": true, \"n\": null}}",
            "[1, 2 ,3]", "42", "\"quoted\"", "not json", "{\"open\": ", "01", "[1,]",
            String(repeating: "[", count: 600)
                + String(repeating: "]", count: 600),
        ]
        let appended = try Logd.run(
            directory.args("append", "docs", "--key-separator", "|"),
            input: Array(values.map { "{\"k\": 7}|" + $0.replacingOccurrences(of: "\n", with: " ") + "\n" }.joined().utf8))
        #expect(appended.succeeded, "\(appended)")
        let read = try Logd.run(
            directory.args("read", "docs", "--format", "json", "--value-format", "json", "--key-format", "json"))
        #expect(read.succeeded, "\(read)")
        let objects = try read.lines.map { try parseJSONObject($0) }
        #expect(objects.count == values.count)
        #expect(
            read.lines.first?.contains("\"value\":{\"id\":1,\"tags\":[\"a\",\"b\\n\"],") == true, "minified: \(read.lines[0])")
        let first = try #require(objects.first?["value"] as? [String: Any])
        #expect(jsonInt(first["id"]) == 1 && (first["tags"] as? [String]) == ["a", "b\n"])
        #expect(jsonInt((objects[0]["key"] as? [String: Any])?["k"]) == 7, "keys embedded too")
        #expect((objects[1]["value"] as? [Any])?.count == 3)
        #expect(jsonInt(objects[2]["value"]) == 42)
        #expect(objects[3]["value"] as? String == "quoted")
        // Not JSON (or nested past the limit): the text, as a string.
        for index in 4..<values.count {
            #expect(objects[index]["value"] as? String == values[index], "\(read.lines[index])")
        }
        try directory.expectVerifies("docs")
    }

    @Test func createMakesALogWithItsSettingsOnce() throws {
        let directory = try TestDirectory()
        let created = try Logd.run(
            directory.args("create", "fresh", "--set", "retention.ms=60000", "--set", "segment.bytes=4096"))
        #expect(created.succeeded && created.output.contains("retention.ms=60000\n"), "\(created)")
        #expect(try Logd.run(directory.args("stat", "fresh")).succeeded, "an empty log")
        let again = try Logd.run(directory.args("create", "fresh"))
        #expect(!again.succeeded && again.errorOutput.contains("already exists"), "\(again)")
        let bad = try Logd.run(directory.args("create", "other", "--set", "retention.ms=soon"))
        #expect(!bad.succeeded && bad.errorOutput.contains("retention.ms must be a whole number"), "\(bad)")
        #expect(!FileManager.default.fileExists(atPath: directory.log("other")), "nothing made for a bad setting")
        let missing = try Logd.run(directory.args("config", "nosuch"))
        #expect(!missing.succeeded && missing.errorOutput.contains("logd create nosuch"), "\(missing)")
        let config = try Logd.run(directory.args("config", "fresh"))
        #expect(config.output.contains("segment.bytes=4096\n"), "\(config)")
        try directory.expectVerifies("fresh")
    }
}
