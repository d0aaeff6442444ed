import SystemPackage

/// What `logd serve` was asked for.
public struct KafkaServerConfiguration: Sendable {
    /// The data directory: each log in it is a topic with one partition, 0.
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
    /// A new consumer group's first join phase waits this long for more members
    /// (Kafka's group.initial.rebalance.delay.ms).
    public var groupInitialRebalanceDelay: Duration

    public init(
        dataDirectory: FilePath, host: String = "127.0.0.1", port: Int = 9092, advertisedHost: String? = nil,
        advertisedPort: Int? = nil, maxRequestBytes: Int = 100 << 20, autoCreateTopics: Bool = false,
        groupInitialRebalanceDelay: Duration = .seconds(3)
    ) {
        self.groupInitialRebalanceDelay = groupInitialRebalanceDelay
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.advertisedHost = advertisedHost
        self.advertisedPort = advertisedPort
        self.maxRequestBytes = maxRequestBytes
        self.autoCreateTopics = autoCreateTopics
    }

    /// The only broker of this cluster.
    public static let nodeID: Int32 = 0
}
