import NIOCore

/// Metadata (key 3) request, v0-8.
public struct MetadataRequest: Sendable, Equatable {
    /// The topics asked for; nil means every topic. In v0 an empty list means
    /// every topic (v0 has no null); from v1 an empty list means none (KAFKA.md trap 4).
    public var topics: [String]?
    /// v4+: whether asking for a missing topic may create it.
    public var allowAutoTopicCreation: Bool

    public init(topics: [String]?, allowAutoTopicCreation: Bool = true) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        var topics = try reader.nullableArray { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.string() }
        if version == 0, topics?.isEmpty == true { topics = nil }
        var allowAutoTopicCreation = true
        if version >= 4 { allowAutoTopicCreation = try reader.bool() }
        if version >= 8 {
            _ = try reader.bool()  // include_cluster_authorized_operations
            _ = try reader.bool()  // include_topic_authorized_operations
        }
        return MetadataRequest(topics: topics, allowAutoTopicCreation: allowAutoTopicCreation)
    }
}

/// Metadata response: the brokers (this one), the cluster id, the controller
/// and each topic's partitions.
public struct MetadataResponse: Sendable, Equatable {
    public struct Broker: Sendable, Equatable {
        public var nodeID: Int32
        public var host: String
        public var port: Int32
        public init(nodeID: Int32, host: String, port: Int32) {
            self.nodeID = nodeID
            self.host = host
            self.port = port
        }
    }

    public struct Partition: Sendable, Equatable {
        public var errorCode: ErrorCode
        public var index: Int32
        public var leaderID: Int32
        public var leaderEpoch: Int32
        public var replicas: [Int32]
        public init(errorCode: ErrorCode = .none, index: Int32, leaderID: Int32, leaderEpoch: Int32 = 0, replicas: [Int32]) {
            self.errorCode = errorCode
            self.index = index
            self.leaderID = leaderID
            self.leaderEpoch = leaderEpoch
            self.replicas = replicas
        }
    }

    public struct Topic: Sendable, Equatable {
        public var errorCode: ErrorCode
        public var name: String
        public var partitions: [Partition]
        public init(errorCode: ErrorCode = .none, name: String, partitions: [Partition]) {
            self.errorCode = errorCode
            self.name = name
            self.partitions = partitions
        }
    }

    public var brokers: [Broker]
    public var clusterID: String?
    public var controllerID: Int32
    public var topics: [Topic]

    public init(brokers: [Broker], clusterID: String?, controllerID: Int32, topics: [Topic]) {
        self.brokers = brokers
        self.clusterID = clusterID
        self.controllerID = controllerID
        self.topics = topics
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafkaArray(brokers) { buffer, broker in
            buffer.writeKafka(broker.nodeID)
            buffer.writeKafka(broker.host)
            buffer.writeKafka(broker.port)
            if version >= 1 { buffer.writeKafka(String?.none) }  // rack
        }
        if version >= 2 { buffer.writeKafka(clusterID) }
        if version >= 1 { buffer.writeKafka(controllerID) }
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.errorCode.rawValue)
            buffer.writeKafka(topic.name)
            if version >= 1 { buffer.writeKafka(false) }  // is_internal
            buffer.writeKafkaArray(topic.partitions) { buffer, partition in
                buffer.writeKafka(partition.errorCode.rawValue)
                buffer.writeKafka(partition.index)
                buffer.writeKafka(partition.leaderID)
                if version >= 7 { buffer.writeKafka(partition.leaderEpoch) }
                buffer.writeKafkaArray(partition.replicas) { $0.writeKafka($1) }  // replica_nodes
                buffer.writeKafkaArray(partition.replicas) { $0.writeKafka($1) }  // isr_nodes
                if version >= 5 { buffer.writeKafkaArray([Int32]()) { $0.writeKafka($1) } }  // offline_replicas
            }
            if version >= 8 { buffer.writeKafka(Int32.min) }  // topic_authorized_operations: not computed
        }
        if version >= 8 { buffer.writeKafka(Int32.min) }  // cluster_authorized_operations: not computed
    }
}
