import ArgumentParser
import LogStore

extension OffsetResetPolicy: ExpressibleByArgument {}

struct GroupsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List a log's consumer groups, or move one.",
        discussion: "Lists each group with its committed offset and lag (records it has not committed yet)."
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log.")
    var log: String

    @Option(help: "The group to move (with --to).")
    var reset: String?

    @Option(help: ArgumentHelp("Where --reset moves the group: an offset, earliest or latest.", valueName: "N|earliest|latest"))
    var to: String?

    func validate() throws {
        try DataDirectoryOptions.validate(logName: log)
        if (reset == nil) != (to == nil) { throw ValidationError("--reset and --to go together") }
        if let to, Int64(to) == nil, to != "earliest", to != "latest" {
            throw ValidationError("--to must be an offset, earliest or latest, got '\(to)'")
        }
    }

    func run() throws {
        let opened = try data.openForReading(log)
        defer { try? opened.close() }
        if let reset, let to {
            let offset: Int64
            switch to {
            case "earliest": offset = opened.lowestOffset
            case "latest": offset = opened.nextOffset
            default: offset = Int64(to) ?? 0
            }
            try opened.resetGroup(reset, to: offset)
            print("\(reset): committed offset \(offset)")
            return
        }
        let groups = try opened.groups()
        print("GROUP".padding(24) + "COMMITTED".padding(14) + "LAG")
        for group in groups {
            print(
                group.group.padding(24) + (group.committedOffset.map(String.init) ?? "-").padding(14)
                    + (group.lag.map(String.init) ?? "-"))
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
