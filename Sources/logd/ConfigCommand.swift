import ArgumentParser
import LogStore

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show or change a log's settings.",
        discussion: """
            Settings: retention.bytes (delete the oldest segments while the log is larger; -1: no limit), \
            retention.ms (delete segments whose newest record is older; -1: no limit), \
            segment.bytes (roll segments at this size, at least 1024), \
            compression.type (none or gzip: how appended batches are compressed), \
            compression.gzip.level (1 fastest ... 9 smallest; default 1), \
            cleanup.policy (delete, or compact: keep the latest record per key, see logd compact), \
            delete.retention.ms (how long compaction keeps tombstones; default 86400000), \
            max.message.bytes (the largest record batch a Kafka producer may append through logd serve; \
            default 67108864). \
            They are stored in the log directory and take effect when the log is next opened for writing \
            (logd append, logd retain). Retention deletes whole segments, never the active one. \
            With --set, a log that does not exist yet is created with these settings.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log.")
    var log: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a setting (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let path = try data.logPath(log)
        let exists = DataDirectoryOptions.isDirectory(path)
        if !exists && settings.isEmpty {
            throw CLIError(
                "no log named '\(log)' in \(data.path.string) (see `logd list`; `logd create \(log) [--set key=value]...` creates it)"
            )
        }
        var config = exists ? try LogConfig.load(logDirectory: path) : LogConfig()
        // Every setting is checked before anything is written or created.
        try Self.apply(settings, to: &config)
        if !exists {
            // A new log, made with its settings before its first append.
            try data.openLog(log, options: config.applied(to: LogOptions(syncPolicy: .always)), create: true).close()
        }
        if !settings.isEmpty { try config.save(logDirectory: path) }
        Self.printSettings(config)
    }

    /// Sets each `key=value` of `settings` in `config`; the first bad one is the error.
    static func apply(_ settings: [String], to config: inout LogConfig) throws {
        for setting in settings {
            guard let equals = setting.firstIndex(of: "=") else {
                throw CLIError("--set '\(setting)' is not of the form key=value")
            }
            do {
                try config.set(String(setting[..<equals]), to: String(setting[setting.index(after: equals)...]))
            } catch let error as LogStoreError {
                throw CLIError(error.message)
            }
        }
    }

    /// Every setting, `key=value` a line, defaults marked.
    static func printSettings(_ config: LogConfig) {
        for key in LogConfig.keys {
            print(
                "\(key)=\(config.value(for: key) ?? LogConfig.defaultValue(for: key))"
                    + (config.value(for: key) == nil ? "  (default)" : ""))
        }
    }
}

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an empty log, with settings.",
        discussion: """
            Makes the log with the settings given (see logd config for them) before its first append; \
            fails if the log exists (logd config changes an existing log's settings). Prints the settings.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to create.")
    var log: String

    @Option(name: .customLong("set"), help: ArgumentHelp("A setting (repeatable).", valueName: "key=value"))
    var settings: [String] = []

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let path = try data.logPath(log)
        guard !DataDirectoryOptions.isDirectory(path) else {
            throw CLIError("a log named '\(log)' already exists in \(data.path.string) (logd config changes its settings)")
        }
        var config = LogConfig()
        try ConfigCommand.apply(settings, to: &config)
        try data.openLog(log, options: config.applied(to: LogOptions(syncPolicy: .always)), create: true).close()
        try config.save(logDirectory: path)
        ConfigCommand.printSettings(config)
    }
}

struct RetainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retain",
        abstract: "Apply the log's retention settings now.",
        discussion: "Deletes whole segments past retention.bytes or retention.ms (see logd config); never the active segment."
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log.")
    var log: String

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let options = try data.storedOptions(log, LogOptions(syncPolicy: .never))
        let opened = try data.openLog(log, options: options, create: false)
        let deleted: Int
        do {
            deleted = try opened.applyRetention()
        } catch {
            try? opened.close()
            throw error
        }
        let lowest = opened.lowestOffset
        let next = opened.nextOffset
        try opened.close()
        print("\(log): deleted \(deleted) segments; lowest offset \(lowest), next offset \(next)")
    }
}
