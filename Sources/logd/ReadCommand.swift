import ArgumentParser
import Foundation
import LogStore

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Print records of a log.",
        discussion: """
            text prints each value on its own line. json prints one object per line: \
            {"offset", "timestamp" (ms since the epoch), "key", "value", "headers": {k: v}}; \
            key and value are strings (invalid UTF-8 replaced by U+FFFD) or null. \
            Works while another process appends to the log. \
            With --group, reading starts at the group's committed offset (or where --reset-policy says) and the offset \
            after each batch is committed once the batch is written to standard output: a reader killed midway \
            re-reads at most its last batch and never skips one (at-least-once).
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
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
        let format = format
        while remaining > 0 {
            let before = next
            next = try log.forEachRecord(from: next) { record in
                Self.write(record, format: format, to: output)
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
        let format = format
        while remaining > 0 {
            let read = try consumer.poll(maxRecords: min(remaining, 1000)) { record in
                Self.write(record, format: format, to: output)
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

    static func write(_ record: RecordView, format: Format, to output: OutputBuffer) {
        switch format {
        case .text:
            if let value = record.value { output.write(value) }
            output.write(byte: UInt8(ascii: "\n"))
        case .json:
            output.write("{\"offset\":\(record.offset),\"timestamp\":\(record.timestamp),\"key\":")
            writeJSON(record.key, to: output)
            output.write(",\"value\":")
            writeJSON(record.value, to: output)
            output.write(",\"headers\":{")
            for (number, header) in record.headers().enumerated() {
                if number > 0 { output.write(byte: UInt8(ascii: ",")) }
                output.writeJSONString(header.key)
                output.write(byte: UInt8(ascii: ":"))
                if let value = header.value {
                    value.withUnsafeBytes { output.writeJSONString($0) }
                } else {
                    output.write("null")
                }
            }
            output.write("}}\n")
        }
    }

    private static func writeJSON(_ bytes: UnsafeRawBufferPointer?, to output: OutputBuffer) {
        if let bytes { output.writeJSONString(bytes) } else { output.write("null") }
    }
}
