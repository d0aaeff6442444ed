import ArgumentParser
import Foundation
import LogStore
import SystemPackage

/// `--dir`, shared by every command that works on logs.
struct DataDirectoryOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The data directory holding the logs (default: $LOGD_DIR, else ./logd-data).", valueName: "path"))
    var dir: String?

    var path: FilePath {
        if let dir { return FilePath(dir) }
        if let environment = ProcessInfo.processInfo.environment["LOGD_DIR"], !environment.isEmpty {
            return FilePath(environment)
        }
        return FilePath("logd-data")
    }

    /// The directory of the log named `name`, after checking the name.
    func logPath(_ name: String) throws -> FilePath {
        try Self.validate(logName: name)
        return path.appending(name)
    }

    /// Log names become directory names: no path tricks.
    static func validate(logName name: String) throws {
        do {
            try LogNames.validate(name, what: "log")
        } catch let error as LogStoreError {
            throw ValidationError(error.message)
        }
    }

    /// `options` with the log's stored settings (retention, segment size) applied.
    func storedOptions(_ name: String, _ options: LogOptions) throws -> LogOptions {
        try LogConfig.load(logDirectory: logPath(name)).applied(to: options)
    }

    /// Opens an existing log for writing; a missing log is created when `create` is set.
    func openLog(_ name: String, options: LogOptions, create: Bool) throws -> Log {
        let logPath = try logPath(name)
        if !create { try requireExisting(name, at: logPath) }
        if create { try createDataDirectory() }
        return try Log.open(directory: logPath, options: options)
    }

    /// Opens an existing log to read it, alongside a writer in another process.
    func openForReading(_ name: String) throws -> Log {
        let logPath = try logPath(name)
        try requireExisting(name, at: logPath)
        return try Log.openForReading(directory: logPath)
    }

    func requireExisting(_ name: String, at logPath: FilePath) throws {
        guard Self.isDirectory(logPath) else {
            throw CLIError("no log named '\(name)' in \(path.string) (see `logd list`)")
        }
    }

    static func isDirectory(_ path: FilePath) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path.string, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    func createDataDirectory() throws {
        do {
            try Log.createDirectory(path)
        } catch let error as LogStoreError {
            throw CLIError("cannot create data directory \(path.string): \(error)")
        }
    }
}

/// A one-line error for the user; ArgumentParser prints it as `Error: ...` and exits 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `--sync` values.
enum SyncChoice: String, ExpressibleByArgument, CaseIterable {
    case always, interval, never

    func policy(intervalMilliseconds: Int) -> SyncPolicy {
        switch self {
        case .always: return .always
        case .interval: return .interval(milliseconds: intervalMilliseconds)
        case .never: return .never
        }
    }
}
