import ArgumentParser
import KafkaServer
import LogStore

extension OffsetResetPolicy: ExpressibleByArgument {}

struct GroupsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List a log's consumer groups, or move one.",
        discussion: """
            Lists each group with its committed offset and lag (records it has not committed yet). For a Kafka topic \
            with several partitions (made by `logd serve`), a row per group and partition, and --reset moves the group \
            on every partition, as kafka-consumer-groups.sh does.
            """
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
        let path = try data.logPath(log)
        try data.requireExisting(log, at: path)
        let partitions = max(TopicLayout.partitionCount(of: path), 1)
        let logs = try (0..<partitions).map { try Log.openForReading(directory: TopicLayout.directory(of: path, partition: $0)) }
        defer { for opened in logs { try? opened.close() } }
        if let reset, let to {
            for (partition, opened) in logs.enumerated() {
                let offset: Int64
                switch to {
                case "earliest": offset = opened.lowestOffset
                case "latest": offset = opened.nextOffset
                default: offset = Int64(to) ?? 0
                }
                do {
                    try opened.resetGroup(reset, to: offset)
                } catch let error as LogStoreError where partitions > 1 {
                    throw CLIError("partition \(partition): \(error.message)")
                }
                print(
                    partitions > 1
                        ? "\(reset): partition \(partition): committed offset \(offset)" : "\(reset): committed offset \(offset)")
            }
            return
        }
        print("GROUP".padding(24) + (partitions > 1 ? "PARTITION".padding(11) : "") + "COMMITTED".padding(14) + "LAG")
        // By group, then partition.
        let rows = try logs.enumerated().flatMap { partition, opened in try opened.groups().map { (partition, $0) } }
            .sorted { ($0.1.group, $0.0) < ($1.1.group, $1.0) }
        for (partition, group) in rows {
            print(
                group.group.padding(24) + (partitions > 1 ? String(partition).padding(11) : "")
                    + (group.committedOffset.map(String.init) ?? "-").padding(14) + (group.lag.map(String.init) ?? "-"))
        }
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
