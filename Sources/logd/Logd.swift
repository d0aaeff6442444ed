import ArgumentParser
import Foundation
import Logging

@main
struct Logd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logd",
        abstract: "An embedded, segmented, append-only commit log.",
        discussion: """
            Each log is a subdirectory of the data directory: --dir, else $LOGD_DIR, else ./logd-data.
            Records are Kafka record batches v2 in .store files with .index files beside them (docs/FORMAT.md).
            Diagnostics go to stderr at the level in $LOGD_LOG_LEVEL (trace, debug, info, notice, warning, error; default warning).
            """,
        version: "0.1.0",
        subcommands: [
            AppendCommand.self, ReadCommand.self, StatCommand.self, VerifyCommand.self, ListCommand.self, GroupsCommand.self,
            CreateCommand.self, ConfigCommand.self, RetainCommand.self, CompactCommand.self, IngestCommand.self,
            ServeCommand.self, BenchCommand.self, RepairCommand.self,
        ]
    )

    /// Library log lines go to stderr, at the level in $LOGD_LOG_LEVEL (default: warning).
    static func main() async {
        let level = ProcessInfo.processInfo.environment["LOGD_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            // One line on stderr: what was wrong (the usage is one `--help` away).
            let message = Logd.message(for: error)
            FileHandleError.report(message.isEmpty ? "\(error)" : message)
            Foundation.exit(code.rawValue)
        }
    }
}
