import ArgumentParser
import Foundation
import LogStore
import PostgresCDC

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Print records of a log.",
        discussion: """
            text prints each value on its own line. json prints one object per line: \
            {"offset", "timestamp" (ms since the epoch), "key", "value", "headers": {k: v}}; \
            key and value are strings or null, and nothing is lost: a key or value that is not valid UTF-8 \
            is printed in base64 with "key_encoding": "base64" (or "value_encoding") beside it, a header \
            value so with "header_encodings": {k: "base64"}. --value-format json embeds each value that is \
            a JSON document as JSON (a CDC log's changes: jq '.value.after'), base64 prints every value \
            in base64; --key-format likewise for keys. \
            Works while another process appends to the log. \
            With --group, reading starts at the group's committed offset (or where --reset-policy says) and the offset \
            after each batch is committed once the batch is written to standard output: a reader killed midway \
            re-reads at most its last batch and never skips one (at-least-once).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    /// How `--format json` prints a key or a value.
    enum FieldFormat: String, ExpressibleByArgument, CaseIterable {
        /// A JSON string; base64 (and marked so) when the bytes are not valid UTF-8.
        case string
        /// The bytes' JSON document embedded as JSON; as `string` when they are none.
        case json
        /// Always base64, marked so.
        case base64
    }

    /// What `--format` and the field formats ask for, passed to `write`.
    struct Layout {
        var format: Format
        var key: FieldFormat = .string
        var value: FieldFormat = .string
    }

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to read.")
    var log: String

    @Option(help: "First offset to read (default: the oldest retained).")
    var from: Int64?

    @Option(
        name: .customLong("from-time"),
        help: ArgumentHelp(
            "Start at the first record with a timestamp at or after this time: ISO 8601 (2026-11-22T10:00:00Z) or ms since the epoch.",
            valueName: "time"))
    var fromTime: String?

    @Option(help: "Read as this consumer group: start at its committed offset and commit as records are printed.")
    var group: String?

    @Flag(name: .customLong("no-commit"), help: "With --group: do not commit offsets.")
    var noCommit = false

    @Option(
        name: .customLong("reset-policy"),
        help:
            "With --group: where to start when the group has no committed offset or retention removed it: earliest, latest or fail."
    )
    var resetPolicy: OffsetResetPolicy = .earliest

    @Option(help: "Stop after this many records.")
    var count: Int?

    @Flag(help: "At the end of the log, wait for new records instead of exiting.")
    var follow = false

    @Option(help: "Output format: text or json.")
    var format: Format = .text

    @Option(
        name: .customLong("key-format"),
        help: "With --format json, how keys are printed: string, json (a JSON document embedded as JSON) or base64.")
    var keyFormat: FieldFormat = .string

    @Option(
        name: .customLong("value-format"),
        help: "With --format json, how values are printed: string, json (a JSON document embedded as JSON) or base64.")
    var valueFormat: FieldFormat = .string

    var layout: Layout { Layout(format: format, key: keyFormat, value: valueFormat) }

    func validate() throws {
        try DataDirectoryOptions.validate(logName: log)
        if let from, from < 0 { throw ValidationError("--from must not be negative") }
        if let count, count < 0 { throw ValidationError("--count must not be negative") }
        if from != nil && fromTime != nil { throw ValidationError("--from and --from-time cannot be used together") }
        if let group {
            if from != nil || fromTime != nil {
                throw ValidationError("--group starts at the group's offset: drop --from/--from-time")
            }
            do {
                try LogNames.validate(group, what: "consumer group", maxBytes: LogNames.maxGroupBytes)
            } catch let error as LogStoreError {
                throw ValidationError(error.message)
            }
        } else if noCommit {
            throw ValidationError("--no-commit goes with --group")
        }
        if let fromTime { _ = try Self.parseTime(fromTime) }
        if format == .text, keyFormat != .string || valueFormat != .string {
            throw ValidationError("--key-format and --value-format go with --format json (text prints values as they are)")
        }
    }

    /// Milliseconds since the epoch from ISO 8601 or a number of milliseconds.
    static func parseTime(_ text: String) throws -> Int64 {
        if let milliseconds = Int64(text) { return milliseconds }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        throw ValidationError("--from-time '\(text)' is neither ISO 8601 (2026-11-22T10:00:00Z) nor milliseconds since the epoch")
    }

    func run() async throws {
        let log = try data.openForReading(log)
        defer { try? log.close() }
        if let group {
            try await readAsGroup(log, group: group)
            return
        }
        let output = OutputBuffer()
        var next = from ?? log.lowestOffset
        if let fromTime { next = try log.offset(atOrAfter: try Self.parseTime(fromTime)) ?? log.nextOffset }
        var remaining = count ?? Int.max
        let layout = layout
        while remaining > 0 {
            let before = next
            next = try log.forEachRecord(from: next) { record in
                Self.write(record, layout, to: output)
                remaining -= 1
                return remaining > 0
            }
            if next == before {
                // At the end of the log.
                output.flush()
                guard follow, await log.waitForRecord(at: next) else { break }
            }
        }
        output.flush()
    }

    private func readAsGroup(_ log: Log, group: String) async throws {
        let consumer = try Consumer(log: log, group: group, resetPolicy: resetPolicy)
        let output = OutputBuffer()
        var remaining = count ?? Int.max
        let layout = layout
        while remaining > 0 {
            let read = try consumer.poll(maxRecords: min(remaining, 1000)) { record in
                Self.write(record, layout, to: output)
            }
            remaining -= read
            if read > 0 {
                // Printed first, committed second: a crash between the two re-reads, never skips.
                output.flush()
                if !noCommit { try consumer.commit() }
                continue
            }
            guard follow, await consumer.waitForRecords() else { break }
        }
        output.flush()
    }

    static func write(_ record: RecordView, _ layout: Layout, to output: OutputBuffer) {
        switch layout.format {
        case .text:
            if let value = record.value { output.write(value) }
            output.write(byte: UInt8(ascii: "\n"))
        case .json:
            // One access to the buffer for the whole line (each is checked for exclusivity at run time).
            output.append { bytes in appendJSON(record, layout, to: &bytes) }
        }
    }

    static func appendJSON(_ record: RecordView, _ layout: Layout, to bytes: inout [UInt8]) {
        OutputBytes.append("{\"offset\":", to: &bytes)
        OutputBytes.append(decimal: record.offset, to: &bytes)
        OutputBytes.append(",\"timestamp\":", to: &bytes)
        OutputBytes.append(decimal: record.timestamp, to: &bytes)
        OutputBytes.append(",\"key\":", to: &bytes)
        appendField(record.key, layout.key, base64Marker: ",\"key_encoding\":\"base64\"", to: &bytes)
        OutputBytes.append(",\"value\":", to: &bytes)
        appendField(record.value, layout.value, base64Marker: ",\"value_encoding\":\"base64\"", to: &bytes)
        OutputBytes.append(",\"headers\":{", to: &bytes)
        var base64Headers: [String] = []
        for (number, header) in record.headers().enumerated() {
            if number > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONString.append(header.key, to: &bytes, style: .commandOutput)
            bytes.append(UInt8(ascii: ":"))
            if let value = header.value {
                if !value.withUnsafeBytes({ JSONString.appendIfValid($0, to: &bytes, style: .commandOutput) }) {
                    JSONString.appendBase64(value, to: &bytes)
                    base64Headers.append(header.key)
                }
            } else {
                OutputBytes.append("null", to: &bytes)
            }
        }
        bytes.append(UInt8(ascii: "}"))
        if !base64Headers.isEmpty {
            OutputBytes.append(",\"header_encodings\":{", to: &bytes)
            for (number, key) in base64Headers.enumerated() {
                if number > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONString.append(key, to: &bytes, style: .commandOutput)
                OutputBytes.append(":\"base64\"", to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
        OutputBytes.append("}\n", to: &bytes)
    }

    /// The bytes as `format` says, then `base64Marker` when they went out in base64.
    private static func appendField(
        _ field: UnsafeRawBufferPointer?, _ format: FieldFormat, base64Marker: StaticString, to bytes: inout [UInt8]
    ) {
        guard let field else {
            OutputBytes.append("null", to: &bytes)
            return
        }
        if format == .json, JSONText.appendMinified(field, to: &bytes) { return }
        if format != .base64, JSONString.appendIfValid(field, to: &bytes, style: .commandOutput) { return }
        JSONString.appendBase64(field, to: &bytes)
        OutputBytes.append(base64Marker, to: &bytes)
    }
}
