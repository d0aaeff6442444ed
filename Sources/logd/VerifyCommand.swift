import ArgumentParser
import LogStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every CRC and every index entry of a closed log.",
        discussion: """
            Exits 0 when the log is clean, 1 naming the first bad file, offset and position otherwise. \
            Damage that the next open repairs by itself (a torn tail after a crash) is printed as a note and does not fail.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to check.")
    var log: String

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let path = try data.logPath(log)
        try data.requireExisting(log, at: path)
        let report = try Log.verify(directory: path)
        for note in report.notes { print("note: \(note)") }
        for problem in report.problems.dropFirst() { print("also: \(problem)") }
        if let first = report.problems.first {
            throw CLIError("\(log): \(first)")
        }
        print(
            "\(log): ok: \(report.segments) segments, \(report.batches) batches, \(report.records) records, \(report.bytes) bytes"
        )
    }
}
