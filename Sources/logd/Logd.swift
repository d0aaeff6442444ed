import ArgumentParser

@main
struct Logd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logd",
        abstract: "An embedded, segmented, append-only commit log.",
        discussion: """
            Each log is a subdirectory of the data directory: --dir, else $LOGD_DIR, else ./logd-data.
            Records are Kafka record batches v2 in .store files with .index files beside them (docs/FORMAT.md).
            """,
        version: "0.1.0",
        subcommands: [
            AppendCommand.self, ReadCommand.self, StatCommand.self, VerifyCommand.self, ListCommand.self, BenchCommand.self,
        ]
    )
}
