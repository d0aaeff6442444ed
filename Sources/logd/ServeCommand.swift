import ArgumentParser
import Foundation
import KafkaServer
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the logs of the data directory over the Kafka protocol (each log is a topic).",
        discussion: """
            Kafka clients (kcat, librdkafka, kafka-python, aiokafka, ...) produce to and fetch from the logs: \
            Metadata, Produce (acks 0, 1 and all; idempotent producers), Fetch with long polling, ListOffsets, \
            consumer groups (JoinGroup, SyncGroup, Heartbeat, LeaveGroup; static members too) and offset commits, which go to the same \
            files as `logd read --group`, and the admin APIs CreateTopics, CreatePartitions, DeleteTopics, DescribeConfigs and \
            AlterConfigs (one replica; topic configs are the log's settings) (docs/KAFKA.md). Transactions are not served. \
            A log of the data directory is partition 0 of its topic; a topic's other partitions are the logs \
            `<topic>/partitions/<n>` inside it (`logd read --dir DIR/<topic>/partitions <n>` reads one). Logs created while it runs \
            appear without a restart; a log another process writes (an ingester) is served read-only and live. \
            SIGINT or SIGTERM stops it cleanly.
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "host:port"))
    var listen = "127.0.0.1:9092"

    @Option(
        help: ArgumentHelp(
            "The address clients are told to connect to (default: the listen address; never use localhost, which may be ::1).",
            valueName: "host:port"))
    var advertisedListener: String?

    @Flag(help: "A Metadata or Produce naming a missing topic creates its log (Kafka's auto.create.topics.enable).")
    var autoCreateTopics = false

    @Option(
        help: ArgumentHelp(
            "The partitions of a topic that auto-creation makes, or a CreateTopics asking for the server's default (Kafka's num.partitions).",
            valueName: "count"))
    var defaultPartitions: Int32 = 1

    @Option(
        help: ArgumentHelp(
            "The largest replication factor a CreateTopics may ask for. logd is one server: a topic keeps one copy whatever the factor, so above 1 this only lets code written for a Kafka cluster (its tests, its setup scripts) create its topics.",
            valueName: "count"))
    var maxReplicationFactor: Int16 = 1

    @Option(help: ArgumentHelp("Requests larger than this close the connection.", valueName: "bytes"))
    var maxRequestBytes = 100 << 20

    @Option(
        help: ArgumentHelp(
            "How long a new consumer group waits for more members before its first generation (Kafka's group.initial.rebalance.delay.ms).",
            valueName: "ms"))
    var groupInitialRebalanceDelayMs = 3000

    func validate() throws {
        _ = try Self.hostAndPort(listen, what: "--listen")
        if let advertisedListener { _ = try Self.hostAndPort(advertisedListener, what: "--advertised-listener") }
        guard (1...KafkaServerConfiguration.maxPartitions).contains(defaultPartitions) else {
            throw ValidationError(
                "--default-partitions must be between 1 and \(KafkaServerConfiguration.maxPartitions), got \(defaultPartitions)")
        }
        guard (1...16).contains(maxReplicationFactor) else {
            throw ValidationError("--max-replication-factor must be between 1 and 16, got \(maxReplicationFactor)")
        }
        guard maxRequestBytes >= 1024 else { throw ValidationError("--max-request-bytes must be at least 1024") }
        guard (0...300_000).contains(groupInitialRebalanceDelayMs) else {
            throw ValidationError("--group-initial-rebalance-delay-ms must be between 0 and 300000")
        }
    }

    static func hostAndPort(_ text: String, what: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port),
            colon != text.startIndex
        else { throw ValidationError("\(what) wants host:port, such as 127.0.0.1:9092 (got '\(text)')") }
        return (String(text[..<colon]), port)
    }

    func run() async throws {
        let (host, port) = try Self.hostAndPort(listen, what: "--listen")
        let advertised = try advertisedListener.map { try Self.hostAndPort($0, what: "--advertised-listener") }
        let server = KafkaServer(
            configuration: KafkaServerConfiguration(
                dataDirectory: data.path, host: host, port: port, advertisedHost: advertised?.0, advertisedPort: advertised?.1,
                maxRequestBytes: maxRequestBytes, autoCreateTopics: autoCreateTopics,
                defaultPartitions: defaultPartitions, groupInitialRebalanceDelay: .milliseconds(groupInitialRebalanceDelayMs),
                maxReplicationFactor: maxReplicationFactor))
        let serving = Task {
            try await server.run { bound in FileHandleError.note("serving \(data.path.string) on \(host):\(bound)") }
        }
        let signals = SignalHandlers { signal in
            FileHandleError.note("received \(signal == SIGINT ? "SIGINT" : "SIGTERM"): stopping (a second one exits at once)")
            serving.cancel()
        }
        defer { signals.cancel() }
        do {
            try await serving.value
        } catch is CancellationError {
            // Stopped by a signal.
        }
    }
}
