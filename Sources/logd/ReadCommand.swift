import ArgumentParser
import LogStore

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Print records of a log.",
        discussion: """
            text prints each value on its own line. json prints one object per line: \
            {"offset", "timestamp" (ms since the epoch), "key", "value", "headers": {k: v}}; \
            key and value are strings (invalid UTF-8 replaced by U+FFFD) or null. \
            Works while another process appends to the log.
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
    }

    func run() async throws {
        let log = try data.openForReading(log)
        defer { try? log.close() }
        let output = OutputBuffer()
        var next = from ?? log.lowestOffset
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
