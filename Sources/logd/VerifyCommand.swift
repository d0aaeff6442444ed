import ArgumentParser
import KafkaServer
import LogStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every CRC and every index entry of a closed log.",
        discussion: """
            Exits 0 when the log is clean, 1 naming the first bad file, offset and position otherwise. \
            Damage that the next open repairs by itself (a torn tail after a crash) is printed as a note and does not fail; \
            other damage is what `logd repair` moves aside (never automatically: the line printed says how). \
            A Kafka topic's further partitions (`<log>/partitions/<n>`, made by `logd serve`) are checked too, each on a line of its own.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to check.")
    var log: String

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let path = try data.logPath(log)
        try data.requireExisting(log, at: path)
        var firstDamage: String?
        for partition in 0..<max(TopicLayout.partitionCount(of: path), 1) {
            let name = partition == 0 ? log : "\(log) partition \(partition)"
            let report = try Log.verify(directory: TopicLayout.directory(of: path, partition: partition))
            for note in report.notes { print(partition == 0 ? "note: \(note)" : "note: partition \(partition): \(note)") }
            for problem in report.problems.dropFirst() { print("also: \(problem)") }
            if let first = report.problems.first {
                // The first damage is the error; any later partition's is printed.
                if firstDamage == nil { firstDamage = "\(name): \(first)" } else { print("also: \(name): \(first)") }
                continue
            }
            print(
                "\(name): ok: \(report.segments) segments, \(report.batches) batches, \(report.records) records, \(report.bytes) bytes"
            )
        }
        if let firstDamage {
            // On stdout: stderr's first line is the error.
            let again = data.dir.map { " --dir \($0)" } ?? ""
            print(
                "to move the damaged data aside and keep the rest: `logd repair \(log)\(again) --dry-run` shows what would move, "
                    + "`logd repair \(log)\(again)` does it")
            throw CLIError(firstDamage)
        }
    }
}
