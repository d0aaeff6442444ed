import Foundation
import KafkaProtocol
import LogStore
import Logging
import Synchronization
import SystemPackage

/// The logs of the data directory as topics, opened on first use and kept
/// open. A log another process writes (an ingester) is opened read-only and
/// followed live.
final class TopicRegistry: Sendable {
    let directory: FilePath
    private let state = Mutex(State())
    private let opening = Mutex(())
    private let logger: Logger

    private struct State {
        var logs: [String: Log] = [:]
        /// Topics being deleted: not opened again meanwhile (a request that
        /// opened one would take the lock the deletion needs).
        var deleting: Set<String> = []
    }

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

    /// Whether the data directory holds a log of that name now.
    func exists(_ name: String) -> Bool { names().contains(name) }

    /// The open log of topic `name`; nil when there is no such log (and `create` is false).
    /// - Throws: `LogStoreError` (`.invalidArgument` for a name that cannot be a log's) when creating.
    func log(_ name: String, create: Bool = false) throws -> Log? {
        if let log = state.withLock({ $0.logs[name] }) { return log }
        // One open at a time: two at once would take the log's lock from each other, and the loser
        // would serve it read-only as if another process wrote it.
        return try opening.withLock { _ -> Log? in
            let known = state.withLock { state in (state.logs[name], state.deleting.contains(name)) }
            if let log = known.0 { return log }
            if known.1 { return nil }
            if create {
                if let problem = Self.creationProblem(name) { throw InvalidTopicName(message: problem) }
                try Log.createDirectory(directory)
            } else {
                guard exists(name) else { return nil }
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
            let registered = state.withLock { state -> Log? in
                if state.deleting.contains(name) { return nil }
                state.logs[name] = opened
                return opened
            }
            if registered == nil { try? opened.close() }
            return registered
        }
    }

    /// A name no topic can be created under.
    struct InvalidTopicName: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Why a topic named `name` cannot be created, nil when it can: Kafka's
    /// rule for topic names (clients rely on it), then logd's for log names
    /// (no leading `.`, at most 200 bytes). Logs that `logd append` made
    /// under other names are still served.
    static func creationProblem(_ name: String) -> String? {
        if let problem = KafkaTopicName.problem(with: name) { return problem }
        do {
            try LogNames.validate(name, what: "topic")
        } catch let error as LogStoreError {
            return error.message
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Closes the log of topic `name` and deletes it (`Log.delete`: crash-safely, through a hidden
    /// name). Requests meanwhile find no such topic; a log another process has open stays.
    /// - Throws: `LogStoreError` (`.unavailable` when another process has the log open).
    func delete(_ name: String) throws {
        // Under the opening lock: an open in progress ends first, and none starts until `deleting` says so.
        let open = opening.withLock { _ in
            state.withLock { state in
                state.deleting.insert(name)
                return state.logs.removeValue(forKey: name)
            }
        }
        defer { state.withLock { _ = $0.deleting.remove(name) } }
        if let open {
            if !open.isReadOnly { try? open.sync() }
            try open.close()
        }
        try Log.delete(directory: directory.appending(name))
    }

    /// Syncs and closes every open log.
    func closeAll() {
        let all = state.withLock { state in
            defer { state.logs = [:] }
            return Array(state.logs.values)
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
