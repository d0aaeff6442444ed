import Foundation
import LogStore
import Logging
import Synchronization
import SystemPackage

/// The logs of the data directory as topics, opened on first use and kept
/// open. A log another process writes (an ingester) is opened read-only and
/// followed live.
final class TopicRegistry: Sendable {
    let directory: FilePath
    private let logs = Mutex<[String: Log]>([:])
    private let logger: Logger

    init(directory: FilePath, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    /// Every log in the data directory now (logs created meanwhile appear without a restart).
    func names() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? []
        return entries.filter { name in
            guard !name.hasPrefix("."), (try? LogNames.validate(name, what: "topic")) != nil else { return false }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: directory.appending(name).string)) ?? []
            return contents.contains { $0.hasSuffix(".store") }
        }.sorted()
    }

    /// The open log of topic `name`; nil when there is no such log (and `create` is false).
    /// - Throws: `LogStoreError` (`.invalidArgument` for a name that cannot be a log's) when creating.
    func log(_ name: String, create: Bool = false) throws -> Log? {
        if let log = logs.withLock({ $0[name] }) { return log }
        if create {
            try LogNames.validate(name, what: "topic")
            try Log.createDirectory(directory)
        } else {
            guard (try? LogNames.validate(name, what: "topic")) != nil, names().contains(name) else { return nil }
        }
        let path = directory.appending(name)
        let opened: Log
        do {
            let options = try LogConfig.load(logDirectory: path).applied(to: LogOptions(syncPolicy: .never))
            opened = try Log.open(directory: path, options: options, logger: logger)
        } catch let error as LogStoreError where error.code == .unavailable {
            // Another process writes it: serve it read-only.
            opened = try Log.openForReading(directory: path, logger: logger)
        }
        return logs.withLock { logs in
            if let existing = logs[name] {
                try? opened.close()
                return existing
            }
            logs[name] = opened
            return opened
        }
    }

    /// Syncs and closes every open log.
    func closeAll() {
        let all = logs.withLock { logs in
            defer { logs = [:] }
            return Array(logs.values)
        }
        for log in all {
            do {
                if !log.isReadOnly { try log.sync() }
                try log.close()
            } catch {
                logger.error("kafka.close_failed", metadata: ["log.directory": "\(log.directory)", "error": "\(error)"])
            }
        }
    }
}
