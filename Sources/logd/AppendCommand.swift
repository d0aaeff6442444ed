import ArgumentParser
import LogStore

#if canImport(Glibc)
import Glibc
#endif

struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append records to a log (created when missing).",
        discussion: """
            Appends each VALUE as a record, or each line of standard input when no VALUE is given \
            (lines available together are appended as one batch). Prints each assigned offset on its own line. \
            With --sync always an offset is printed only once its record is on stable storage. \
            As kcat does it: --key-separator SEP splits each line (or VALUE) at the first SEP into key and value \
            (a line without SEP has no key), and --empty-as-null turns an empty value into a tombstone (null value) \
            and an empty key into no key: together they feed a compacted log.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to append to.")
    var log: String

    @Argument(help: "Values to append; when none are given, each line of standard input is one value.")
    var values: [String] = []

    @Option(help: "Key of every appended record.")
    var key: String?

    @Option(name: .customLong("header"), help: ArgumentHelp("A header k=v on every record (repeatable).", valueName: "k=v"))
    var headers: [String] = []

    @Option(help: "When records are made durable: always (before the offset is printed), interval, never (only at exit).")
    var sync: SyncChoice = .interval

    @Option(name: .customLong("sync-interval-ms"), help: "Sync interval for --sync interval, in milliseconds.")
    var syncIntervalMilliseconds: Int = 1000

    @Option(
        name: .customLong("segment-bytes"),
        help: "Roll to a new segment when the store reaches this size (default: the log's segment.bytes, else 256 MiB).")
    var segmentBytes: Int64?

    @Option(
        name: .customLong("key-separator"),
        help: ArgumentHelp("Split each line at the first SEP into key and value (kcat -K).", valueName: "SEP"))
    var keySeparator: String?

    @Flag(
        name: .customLong("empty-as-null"),
        help: "Append an empty value as a tombstone (null value), an empty key as no key (kcat -Z).")
    var emptyAsNull = false

    @Option(help: "Compress each batch: gzip or none (default: the log's compression.type, else none).")
    var compression: CompressionChoice?

    @Flag(help: "Do not print offsets.")
    var quiet = false

    func validate() throws {
        try DataDirectoryOptions.validate(logName: log)
        _ = try parsedHeaders()
        guard syncIntervalMilliseconds > 0 else { throw ValidationError("--sync-interval-ms must be positive") }
        if let segmentBytes, segmentBytes < 1024 { throw ValidationError("--segment-bytes must be at least 1024") }
        if keySeparator == "" { throw ValidationError("--key-separator must not be empty") }
        if keySeparator != nil && key != nil { throw ValidationError("--key and --key-separator exclude each other") }
    }

    /// The record for one line or VALUE: split into key and value at the
    /// first separator, empty parts made null under --empty-as-null.
    func record(_ line: [UInt8], key defaultKey: [UInt8]?, headers: [RecordHeader]) -> Record {
        var key = defaultKey
        var value = line
        if let separator = keySeparator.map({ Array($0.utf8) }) {
            key = nil
            if let start = line.firstRange(of: separator) {
                key = Array(line[..<start.lowerBound])
                value = Array(line[start.upperBound...])
            }
        }
        guard emptyAsNull else { return Record(key: key, value: value, headers: headers) }
        return Record(key: key?.isEmpty == true ? nil : key, value: value.isEmpty ? nil : value, headers: headers)
    }

    func parsedHeaders() throws -> [RecordHeader] {
        try headers.map { text in
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw ValidationError("--header '\(text)' is not of the form k=v")
            }
            return RecordHeader(String(text[..<equals]), String(text[text.index(after: equals)...]))
        }
    }

    func run() throws {
        var options = try data.storedOptions(
            log, LogOptions(syncPolicy: sync.policy(intervalMilliseconds: syncIntervalMilliseconds)))
        if let segmentBytes { options.maxSegmentBytes = segmentBytes }
        if let compression {
            options.compression = compression.compression(storedConfig: try LogConfig.load(logDirectory: data.logPath(log)))
        }
        let log = try data.openLog(log, options: options, create: true)
        let headers = try parsedHeaders()
        let key = key.map { Array($0.utf8) }
        let output = OutputBuffer()
        var failure: (any Error)?
        do {
            if values.isEmpty {
                var reader = LineReader(descriptor: STDIN_FILENO)
                while let lines = try reader.nextLines() {
                    let records = lines.map { record($0, key: key, headers: headers) }
                    let offsets = try log.append(records)
                    // Readers in other processes see only what reached the file.
                    try log.flush()
                    report(offsets, to: output)
                }
            } else {
                for value in values {
                    let offset = try log.append(record(Array(value.utf8), key: key, headers: headers))
                    report(offset..<offset + 1, to: output)
                }
            }
        } catch {
            failure = error
        }
        output.flush()
        // Close even after a failure: what was appended before it is synced.
        try log.close()
        if let failure { throw failure }
    }

    private func report(_ offsets: Range<Int64>, to output: OutputBuffer) {
        guard !quiet else { return }
        for offset in offsets { output.write(String(offset) + "\n") }
        // Interactive users and --sync always callers see each offset as soon as it is acknowledged.
        output.flush()
    }
}

/// `--compression` values.
enum CompressionChoice: String, ExpressibleByArgument, CaseIterable {
    case gzip, none

    /// The codec, at the log's stored gzip level when it has one.
    func compression(storedConfig: LogConfig) -> Compression {
        switch self {
        case .gzip: return .gzip(level: storedConfig.gzipLevel ?? Compression.defaultGzipLevel)
        case .none: return .none
        }
    }
}

/// Reads standard input and hands out the complete lines of each read.
struct LineReader {
    let descriptor: Int32
    private var pending: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 256 << 10)
    private var finished = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// The lines that arrived with the next read (without their "\n"); nil at
    /// the end of input. A last line without "\n" still counts.
    mutating func nextLines() throws -> [[UInt8]]? {
        while !finished {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot read standard input: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                finished = true
                if pending.isEmpty { return nil }
                defer { pending = [] }
                return [pending]
            }
            pending.append(contentsOf: chunk[0..<count])
            guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { continue }
            var lines: [[UInt8]] = []
            var start = 0
            for index in 0...lastNewline where pending[index] == UInt8(ascii: "\n") {
                lines.append(Array(pending[start..<index]))
                start = index + 1
            }
            pending.removeFirst(start)
            return lines
        }
        return nil
    }
}
