import NIOCore

/// CreateTopics (key 19) request, v2-4: topics to create, each with its
/// partition count, replication factor, manual assignment and configs.
/// From v4 a count or factor of -1 means the server's default.
public struct CreateTopicsRequest: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitionCount: Int32
        public var replicationFactor: Int16
        /// Manual placement: partition index and the brokers of its replicas.
        public var assignments: [(partition: Int32, brokers: [Int32])]
        public var configs: [(name: String, value: String?)]

        public init(
            name: String, partitionCount: Int32, replicationFactor: Int16,
            assignments: [(partition: Int32, brokers: [Int32])] = [], configs: [(name: String, value: String?)] = []
        ) {
            self.name = name
            self.partitionCount = partitionCount
            self.replicationFactor = replicationFactor
            self.assignments = assignments
            self.configs = configs
        }

        public static func == (left: Topic, right: Topic) -> Bool {
            left.name == right.name && left.partitionCount == right.partitionCount
                && left.replicationFactor == right.replicationFactor
                && left.assignments.map(\.partition) == right.assignments.map(\.partition)
                && left.assignments.map(\.brokers) == right.assignments.map(\.brokers)
                && left.configs.map(\.name) == right.configs.map(\.name)
                && left.configs.map(\.value) == right.configs.map(\.value)
        }
    }

    public var topics: [Topic]
    public var timeoutMilliseconds: Int32
    /// Check the request, create nothing.
    public var validateOnly: Bool

    public init(topics: [Topic], timeoutMilliseconds: Int32 = 30_000, validateOnly: Bool = false) {
        self.topics = topics
        self.timeoutMilliseconds = timeoutMilliseconds
        self.validateOnly = validateOnly
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let topics = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let name = try reader.string()
            let partitionCount = try reader.int32()
            let replicationFactor = try reader.int16()
            let assignments = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
                let partition = try reader.int32()
                let brokers = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.int32() }
                return (partition: partition, brokers: brokers)
            }
            let configs = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
                (name: try reader.string(), value: try reader.nullableString())
            }
            return Topic(
                name: name, partitionCount: partitionCount, replicationFactor: replicationFactor, assignments: assignments,
                configs: configs)
        }
        let timeout = try reader.int32()
        let validateOnly = try reader.bool()
        return CreateTopicsRequest(topics: topics, timeoutMilliseconds: timeout, validateOnly: validateOnly)
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.name)
            buffer.writeKafka(topic.partitionCount)
            buffer.writeKafka(topic.replicationFactor)
            buffer.writeKafkaArray(topic.assignments) { buffer, assignment in
                buffer.writeKafka(assignment.partition)
                buffer.writeKafkaArray(assignment.brokers) { $0.writeKafka($1) }
            }
            buffer.writeKafkaArray(topic.configs) { buffer, config in
                buffer.writeKafka(config.name)
                buffer.writeKafka(config.value)
            }
        }
        buffer.writeKafka(timeoutMilliseconds)
        buffer.writeKafka(Int8(validateOnly ? 1 : 0))
    }
}

/// CreateTopics response: per topic an error code and message.
public struct CreateTopicsResponse: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var errorCode: ErrorCode
        public var errorMessage: String?
        public init(name: String, errorCode: ErrorCode = .none, errorMessage: String? = nil) {
            self.name = name
            self.errorCode = errorCode
            self.errorMessage = errorMessage
        }
    }

    public var topics: [Topic]

    public init(topics: [Topic]) {
        self.topics = topics
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms (v2+)
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.name)
            buffer.writeKafka(topic.errorCode.rawValue)
            buffer.writeKafka(topic.errorMessage)
        }
    }
}
