import Foundation
import KafkaProtocol
import LogStore
import Logging
import Synchronization
import SystemPackage

/// One partition of a topic.
struct TopicPartition: Hashable, Sendable {
    var topic: String
    var partition: Int32
}

/// The logs of the data directory as topics, opened on first use and kept
/// open. A log another process writes (an ingester) is opened read-only and
/// followed live. Partitions are laid out as `TopicLayout` says; a topic
/// exists once partition 0 has a segment, which is made last.
final class TopicRegistry: Sendable {
    static let maxPartitions = KafkaServerConfiguration.maxPartitions

    let directory: FilePath
    /// The partitions of a topic that auto-creation makes (Kafka's `num.partitions`).
    let defaultPartitions: Int32
    /// The largest replication factor CreateTopics accepts; whatever it asks, a partition has one copy, here.
    let maxReplicationFactor: Int16
    private let state = Mutex(State())
    private let opening = Mutex(())
    private let logger: Logger

    private struct State {
        var logs: [TopicPartition: Log] = [:]
        /// Topics being deleted: not opened again meanwhile (a request that
        /// opened one would take the lock the deletion needs).
        var deleting: Set<String> = []
    }

    init(directory: FilePath, defaultPartitions: Int32 = 1, maxReplicationFactor: Int16 = 1, logger: Logger) {
        self.maxReplicationFactor = maxReplicationFactor
        self.directory = directory
        self.defaultPartitions = defaultPartitions
        self.logger = logger
    }

    /// The log directory of a topic's partition.
    func path(_ topic: String, partition: Int32 = 0) -> FilePath {
        TopicLayout.directory(of: directory.appending(topic), partition: partition)
    }

    /// Every log in the data directory now (logs created meanwhile appear without a restart).
    func names() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? []
        return entries.filter(exists).sorted()
    }

    /// Whether the data directory holds a log of that name now.
    func exists(_ name: String) -> Bool {
        Self.canBeLog(name) && TopicLayout.holdsLog(directory.appending(name))
    }

    private static func canBeLog(_ name: String) -> Bool {
        !name.hasPrefix(".") && (try? LogNames.validate(name, what: "topic")) != nil
    }

    /// How many partitions topic `name` has now; 0 when there is no such topic.
    func partitionCount(_ name: String) -> Int32 {
        Self.canBeLog(name) ? TopicLayout.partitionCount(of: directory.appending(name)) : 0
    }

    /// The open log of a topic's partition; nil when there is no such topic
    /// or partition. With `create`, a missing topic is made with
    /// `defaultPartitions` partitions (auto-creation).
    /// - Throws: `Refusal` (INVALID_TOPIC_EXCEPTION) for a name no topic can be
    ///   created under; `LogStoreError` when a log cannot be opened.
    func log(_ name: String, partition: Int32 = 0, create: Bool = false) throws -> Log? {
        let key = TopicPartition(topic: name, partition: partition)
        if let log = state.withLock({ $0.logs[key] }) { return log }
        guard partition >= 0, partition < Self.maxPartitions else { return nil }
        // One open at a time: two at once would take the log's lock from each other, and the loser
        // would serve it read-only as if another process wrote it.
        return try opening.withLock { _ -> Log? in
            let known = state.withLock { state in (state.logs[key], state.deleting.contains(name)) }
            if let log = known.0 { return log }
            if known.1 { return nil }
            if create, !exists(name) {
                try createLocked(name, partitions: defaultPartitions, config: LogConfig())
                return state.withLock { $0.logs[key] }
            }
            guard partition < partitionCount(name) else { return nil }
            return try register(key, try open(path(name, partition: partition)))
        }
    }

    /// The log of a topic's partition if it is open already (no file is touched).
    func openLog(_ name: String, partition: Int32 = 0) -> Log? {
        state.withLock { $0.logs[TopicPartition(topic: name, partition: partition)] }
    }

    /// Opens the log at `path`, read-only when another process writes it.
    private func open(_ path: FilePath) throws -> Log {
        do {
            let options = try LogConfig.load(logDirectory: path).applied(to: LogOptions(syncPolicy: .never))
            return try Log.open(directory: path, options: options, logger: logger)
        } catch let error as LogStoreError where error.code == .unavailable {
            // Another process writes it: serve it read-only.
            return try Log.openForReading(directory: path, logger: logger)
        }
    }

    /// Keeps `log` as the open log of `key`; nil (and the log closed) when its topic is being deleted.
    private func register(_ key: TopicPartition, _ log: Log) throws -> Log? {
        let registered = state.withLock { state -> Log? in
            if state.deleting.contains(key.topic) { return nil }
            state.logs[key] = log
            return log
        }
        if registered == nil { try? log.close() }
        return registered
    }

    /// Creates topic `name` with `partitions` partitions, each a log with the
    /// settings `config`: partitions 1..<n first, partition 0 last, so that a
    /// crash leaves no topic, or all of it. Leftovers of such a crash (a
    /// directory without segments) are removed first.
    /// - Throws: `Refusal` (INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS,
    ///   INVALID_PARTITIONS); `LogStoreError` when a log cannot be made.
    func create(_ name: String, partitions: Int32, config: LogConfig) throws {
        try opening.withLock { _ in
            guard !state.withLock({ $0.deleting.contains(name) }), !exists(name) else {
                throw Refusal(.topicAlreadyExists, "topic \(name) already exists")
            }
            try createLocked(name, partitions: partitions, config: config)
        }
    }

    private func createLocked(_ name: String, partitions: Int32, config: LogConfig) throws {
        if let problem = Self.creationProblem(name) { throw Refusal(.invalidTopic, problem) }
        if let problem = Self.partitionCountProblem(partitions) { throw Refusal(.invalidPartitions, problem) }
        // What a crash while creating the topic before left: logs no topic ever served.
        let leftovers = path(name).appending(TopicLayout.partitionsFolder)
        if FileManager.default.fileExists(atPath: leftovers.string) {
            try FileManager.default.removeItem(atPath: leftovers.string)
        }
        do {
            for partition in (1..<partitions).map({ $0 }) + [0] { try makePartition(name, partition, config: config) }
        } catch {
            // No topic: close what was opened (the next creation removes it).
            let opened = state.withLock { state in
                state.logs.keys.filter { $0.topic == name }.compactMap { state.logs.removeValue(forKey: $0) }
            }
            for log in opened { try? log.close() }
            throw error
        }
    }

    /// Adds partitions to topic `name` up to `count`, each with partition 0's
    /// settings. A crash in between leaves some of them added.
    /// - Throws: `Refusal` (UNKNOWN_TOPIC_OR_PARTITION, INVALID_PARTITIONS for a
    ///   count not above the current one or above `maxPartitions`); `LogStoreError`.
    func addPartitions(_ name: String, upTo count: Int32) throws {
        // (Opened before the opening lock, which `log` takes.)
        guard try log(name)?.isReadOnly != true else {
            throw Refusal(
                .policyViolation, "topic \(name) is written by another process (an ingester): its partitions stay as they are")
        }
        try opening.withLock { _ in
            let current = state.withLock { $0.deleting.contains(name) } ? 0 : partitionCount(name)
            guard current > 0 else { throw Refusal(.unknownTopicOrPartition, "no topic \(name)") }
            guard count > current else {
                throw Refusal(.invalidPartitions, "topic \(name) has \(current) partitions; it can only grow, not to \(count)")
            }
            if let problem = Self.partitionCountProblem(count) { throw Refusal(.invalidPartitions, problem) }
            let config = try LogConfig.load(logDirectory: path(name))
            for partition in current..<count { try makePartition(name, partition, config: config) }
        }
    }

    /// Makes and opens the log of one partition, its settings written before it opens.
    private func makePartition(_ name: String, _ partition: Int32, config: LogConfig) throws {
        let path = self.path(name, partition: partition)
        try Log.createDirectory(path)
        if config != LogConfig() { try config.save(logDirectory: path) }
        _ = try register(TopicPartition(topic: name, partition: partition), try open(path))
    }

    /// Saves `config` as the settings of every partition of topic `name`.
    func saveConfig(_ config: LogConfig, of name: String) throws {
        for partition in 0..<partitionCount(name) { try config.save(logDirectory: path(name, partition: partition)) }
    }

    /// Why a topic cannot be made or changed as asked, as the Kafka error a client gets.
    struct Refusal: Error, CustomStringConvertible {
        var code: ErrorCode
        var message: String
        init(_ code: ErrorCode, _ message: String) {
            self.code = code
            self.message = message
        }
        var description: String { message }
    }

    /// Why a topic cannot have `count` partitions, nil when it can.
    static func partitionCountProblem(_ count: Int32) -> String? {
        guard count >= 1, count <= maxPartitions else {
            return "a topic has 1 to \(maxPartitions) partitions here, \(count) were asked for"
        }
        return nil
    }

    /// Why a topic named `name` cannot be created, nil when it can: Kafka's
    /// rule for topic names (clients rely on it), then logd's for log names
    /// (no leading `.`). Logs that `logd append` made
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

    /// Closes the logs of topic `name` and deletes it (`Log.delete`: crash-safely, through a hidden
    /// name, every partition at once). Requests meanwhile find no such topic; a log another process
    /// has open stays.
    /// - Throws: `LogStoreError` (`.unavailable` when another process has the log open).
    func delete(_ name: String) throws {
        // Under the opening lock: an open in progress ends first, and none starts until `deleting` says so.
        let open = opening.withLock { _ in
            state.withLock { state in
                state.deleting.insert(name)
                let keys = state.logs.keys.filter { $0.topic == name }
                return keys.compactMap { state.logs.removeValue(forKey: $0) }
            }
        }
        defer { state.withLock { _ = $0.deleting.remove(name) } }
        for log in open {
            if !log.isReadOnly { try? log.sync() }
            try log.close()
        }
        try Log.delete(directory: path(name))
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
