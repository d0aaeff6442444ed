import ArgumentParser
import LogStore
import SystemPackage

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
        // One split for lines and VALUEs: at the first separator, empty parts null under --empty-as-null.
        let format = LineRecordFormat(
            keySeparator: keySeparator.map { Array($0.utf8) }, key: key.map { Array($0.utf8) }, emptyAsNull: emptyAsNull,
            headers: try parsedHeaders())
        let output = OutputBuffer()
        var failure: (any Error)?
        do {
            if values.isEmpty {
                // Lines are split in place and encoded straight into the batch; from a pipe, reading overlaps appending.
                try log.appendLines(from: FileDescriptor(rawValue: STDIN_FILENO), format: format) { offsets in
                    report(offsets, to: output)
                }
            } else {
                let batch = RecordBatchBuffer()
                for value in values {
                    var value = value
                    try value.withUTF8 { try format.append(line: UnsafeRawBufferPointer($0), to: batch) }
                    report(try log.append(batch), to: output)
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
        output.append { bytes in
            for offset in offsets {
                OutputBytes.append(decimal: offset, to: &bytes)
                bytes.append(UInt8(ascii: "\n"))
            }
        }
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
