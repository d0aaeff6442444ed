import ArgumentParser
import LogBench
import PostgresCDC
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure append and read throughput against raw-file references.",
        discussion: """
            Runs the workloads in this process, each in a temporary directory it deletes afterwards. \
            Each figure is printed with a reference measured in the same run (plain pwrite/pread/fdatasync \
            of the same bytes, or one thread against many), their ratio, and the target with PASS or MISS. \
            MB/s and GB/s are 10^6 and 10^9 bytes a second.

            Workloads: \(Workload.allCases.map(\.rawValue).joined(separator: ", ")). \
            All but reopen-10g and peak-rss-10g run by default.
            """
    )

    @Option(
        name: .customLong("workload"),
        help: ArgumentHelp("A workload to run (repeatable; default: all but the 10 GiB ones).", valueName: "name"))
    var workloads: [String] = []

    @Option(help: "Payload bytes for the throughput and sequential-read workloads (suffixes K, M, G: binary).")
    var bytes: ByteCount = ByteCount(256 << 20)

    @Option(
        name: .customLong("record-bytes"),
        help: "Record value size for every workload (default: each workload's own, 1 KiB or 100 B).")
    var recordBytes: Int?

    @Option(help: "Records per batch for the batched workloads (default 100).")
    var batch: Int?

    @Option(help: "Appending threads for append-concurrent-always.")
    var threads: Int = 64

    @Option(name: .customLong("concurrent-seconds"), help: "Duration of each side of append-concurrent-always.")
    var concurrentSeconds: Double = 2

    @Option(name: .customLong("synced-records"), help: "Records appended by append-100b-batch100-always.")
    var syncedRecords: Int = 1_000_000

    @Option(name: .customLong("random-reads"), help: "Reads timed by read-random-1k.")
    var randomReads: Int = 200_000

    @Option(name: .customLong("large-bytes"), help: "Log size for reopen and peak-rss (the -10g variants always use 10 GiB).")
    var largeBytes: ByteCount = ByteCount(1 << 30)

    @Option(help: "Rounds of the throughput workloads and their references; the best of each is reported.")
    var rounds: Int = 2

    @Option(help: "Directory in which to make the temporary directories (default: $TMPDIR or /tmp).")
    var dir: String?

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    @Flag(help: "Also print each workload's setup and further figures.")
    var verbose = false

    func validate() throws {
        for name in workloads where Workload(rawValue: name) == nil {
            throw ValidationError(
                "unknown workload '\(name)'; known: \(Workload.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard bytes.value >= 1 << 20, largeBytes.value >= 1 << 20 else {
            throw ValidationError("--bytes and --large-bytes must be at least 1M")
        }
        if let recordBytes, recordBytes < 1 || recordBytes > 1 << 20 {
            throw ValidationError("--record-bytes must be 1...1048576")
        }
        if let batch, batch < 1 || batch > 10_000 { throw ValidationError("--batch must be 1...10000") }
        guard threads >= 1, threads <= 4096 else { throw ValidationError("--threads must be 1...4096") }
        guard concurrentSeconds > 0, syncedRecords > 0, randomReads > 0, rounds >= 1 else {
            throw ValidationError("--concurrent-seconds, --synced-records, --random-reads and --rounds must be positive")
        }
    }

    func run() throws {
        var configuration = BenchConfiguration()
        configuration.directory = dir.map { FilePath($0) }
        configuration.bytes = bytes.value
        configuration.recordBytes = recordBytes
        configuration.batch = batch
        configuration.threads = threads
        configuration.concurrentSeconds = concurrentSeconds
        configuration.syncedRecords = syncedRecords
        configuration.randomReads = randomReads
        configuration.largeBytes = largeBytes.value
        configuration.rounds = rounds
        let selected = workloads.isEmpty ? Workload.defaults : workloads.compactMap { Workload(rawValue: $0) }

        let output = OutputBuffer()
        let reports: [BenchReport]
        do {
            reports = try BenchSuite.run(selected, configuration: configuration) { report in
                guard !json else { return }
                output.write(BenchText.line(report) + "\n")
                if verbose { output.write(BenchText.detailLines(report)) }
                output.flush()
            }
        } catch {
            output.flush()
            throw CLIError("benchmark failed: \(error)")
        }
        if json {
            output.write(BenchText.json(reports, configuration: configuration) + "\n")
        } else {
            let missed = reports.filter { !$0.passed }.map(\.workload)
            output.write(
                "\(reports.count - missed.count) of \(reports.count) targets met"
                    + (missed.isEmpty ? "" : "; missed: " + missed.joined(separator: ", ")) + "\n")
        }
        output.flush()
    }
}

/// A byte count given as `268435456`, `256M`, `256MiB`, `1G` (binary units).
struct ByteCount: ExpressibleByArgument {
    var value: Int

    init(_ value: Int) { self.value = value }

    init?(argument: String) {
        let text = argument.uppercased()
        let digits = text.prefix { $0.isNumber }
        var suffix = text.dropFirst(digits.count)
        if suffix.hasSuffix("IB") { suffix = suffix.dropLast(2) } else if suffix.hasSuffix("B") { suffix = suffix.dropLast(1) }
        let shifts: [Substring: Int] = ["": 0, "K": 10, "M": 20, "G": 30, "T": 40]
        guard let number = Int(digits), let shift = shifts[suffix], number <= Int.max >> shift else { return nil }
        value = number << shift
    }

    var defaultValueDescription: String { NumberText.bytes(value) }
}

/// How bench reports are printed.
enum BenchText {
    static func value(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "records/s", "records", "batches/s", "segments": return NumberText.fixed(value, decimals: 0) + " " + unit
        case "x": return NumberText.fixed(value, decimals: 2) + "x"
        case "s": return NumberText.fixed(value, decimals: 3) + " s"
        case "us": return NumberText.fixed(value, decimals: 2) + " us"
        case "GB/s": return NumberText.fixed(value, decimals: 2) + " GB/s"
        default: return NumberText.short(value) + " " + unit
        }
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `name  figure  ref reference  ratio r  target ... PASS`
    static func line(_ report: BenchReport) -> String {
        var line = padded(report.workload, 32) + padded(value(report.figure.value, report.figure.unit), 22)
        if let reference = report.reference {
            line += padded("ref " + value(reference.value, reference.unit), 26)
        } else {
            line += padded("ref -", 26)
        }
        line += padded("ratio " + (report.ratio.map { NumberText.fixed($0, decimals: 2) } ?? "-"), 13)
        let target = report.target
        let targetValue =
            target.subject == .ratio ? NumberText.fixed(target.value, decimals: 2) : value(target.value, target.unit)
        line += padded(
            "target " + (target.subject == .ratio ? "ratio " : "") + target.comparison.rawValue + " " + targetValue, 34)
        line += report.passed ? "PASS" : "MISS"
        guard !report.summary.isEmpty else { return line }
        return line + "  (" + report.summary.map { $0.name + " " + value($0.value, $0.unit) }.joined(separator: ", ") + ")"
    }

    static func detailLines(_ report: BenchReport) -> String {
        var text = "    setup: " + report.setup + "\n"
        text += "    figure: " + report.figure.name
        if let reference = report.reference { text += "; reference: " + reference.name }
        text += "\n    " + report.details.map { $0.name + " " + value($0.value, $0.unit) }.joined(separator: ", ") + "\n"
        return text
    }

    static func json(_ reports: [BenchReport], configuration: BenchConfiguration) -> String {
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        func string(_ text: String) -> String {
            var escaped: [UInt8] = []
            JSONString.append(text, to: &escaped, style: .commandOutput)
            return String(decoding: escaped, as: UTF8.self)
        }
        func figure(_ figure: Figure) -> String {
            "{\"name\":\(string(figure.name)),\"value\":\(number(figure.value)),\"unit\":\(string(figure.unit))}"
        }
        let workloads = reports.map { report -> String in
            var fields = [
                "\"workload\":\(string(report.workload))", "\"figure\":\(figure(report.figure))",
                "\"reference\":" + (report.reference.map(figure) ?? "null"),
                "\"ratio\":" + (report.ratio.map(number) ?? "null"),
                "\"target\":{\"subject\":\(string(report.target.subject.rawValue)),\"comparison\":\(string(report.target.comparison.rawValue)),"
                    + "\"value\":\(number(report.target.value)),\"unit\":\(string(report.target.unit))}",
                "\"passed\":\(report.passed)",
            ]
            fields.append("\"details\":[" + report.details.map(figure).joined(separator: ",") + "]")
            fields.append("\"setup\":\(string(report.setup))")
            return "{" + fields.joined(separator: ",") + "}"
        }
        let settings = [
            "\"bytes\":\(configuration.bytes)", "\"recordBytes\":" + (configuration.recordBytes.map { "\($0)" } ?? "null"),
            "\"batch\":" + (configuration.batch.map { "\($0)" } ?? "null"), "\"threads\":\(configuration.threads)",
            "\"concurrentSeconds\":\(number(configuration.concurrentSeconds))",
            "\"syncedRecords\":\(configuration.syncedRecords)",
            "\"randomReads\":\(configuration.randomReads)", "\"largeBytes\":\(configuration.largeBytes)",
            "\"rounds\":\(configuration.rounds)",
        ]
        let passed = reports.filter(\.passed).count
        return "{\"cpus\":\(sysconf(Int32(_SC_NPROCESSORS_ONLN))),\"configuration\":{" + settings.joined(separator: ",")
            + "},\"workloads\":[" + workloads.joined(separator: ",")
            + "],\"passed\":\(passed),\"missed\":\(reports.count - passed)}"
    }
}
