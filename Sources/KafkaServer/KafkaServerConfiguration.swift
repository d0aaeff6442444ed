import SystemPackage

/// What `logd serve` was asked for.
public struct KafkaServerConfiguration: Sendable {
    /// The data directory: each log in it is a topic (its partition 0; `TopicRegistry` has the layout).
    public var dataDirectory: FilePath
    public var host: String
    public var port: Int
    /// The host and port clients are told to connect to (Metadata, FindCoordinator);
    /// nil: the listen address (with the port actually bound).
    public var advertisedHost: String?
    public var advertisedPort: Int?
    /// Frames larger than this close the connection (Kafka's socket.request.max.bytes).
    public var maxRequestBytes: Int
    /// A Metadata or Produce naming a missing topic creates its log (Kafka's auto.create.topics.enable).
    public var autoCreateTopics: Bool
    /// The partitions of a topic auto-creation makes, and of a CreateTopics
    /// asking for the default (-1) (Kafka's num.partitions).
    public var defaultPartitions: Int32
    /// A new consumer group's first join phase waits this long for more members
    /// (Kafka's group.initial.rebalance.delay.ms).
    public var groupInitialRebalanceDelay: Duration
    /// The largest replication factor CreateTopics accepts (default 1). Above
    /// 1, a topic asked for with more copies still has one, on this server:
    /// for code written for a Kafka cluster (its test suites), not for safety.
    public var maxReplicationFactor: Int16

    public init(
        dataDirectory: FilePath, host: String = "127.0.0.1", port: Int = 9092, advertisedHost: String? = nil,
        advertisedPort: Int? = nil, maxRequestBytes: Int = 100 << 20, autoCreateTopics: Bool = false,
        defaultPartitions: Int32 = 1, groupInitialRebalanceDelay: Duration = .seconds(3), maxReplicationFactor: Int16 = 1
    ) {
        self.maxReplicationFactor = maxReplicationFactor
        self.groupInitialRebalanceDelay = groupInitialRebalanceDelay
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.maxRequestBytes = maxRequestBytes
        self.autoCreateTopics = autoCreateTopics
        self.defaultPartitions = defaultPartitions
    }

    /// The most partitions a topic may have: each is a log of its own, with
    /// its own files and write buffer.
    public static let maxPartitions: Int32 = 256

    /// The only broker of this cluster.
    public static let nodeID: Int32 = 0
}
