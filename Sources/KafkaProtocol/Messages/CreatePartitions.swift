import NIOCore

/// CreatePartitions (key 37) request, v0-1: topics to grow, each to a new
/// partition count, with an optional manual assignment (the brokers of each
/// new partition's replicas).
public struct CreatePartitionsRequest: Sendable, Equatable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        /// The partition count the topic is to have.
        public var count: Int32
        /// Per new partition, the brokers of its replicas; nil: the server places them.
        public var assignments: [[Int32]]?

        public init(name: String, count: Int32, assignments: [[Int32]]? = nil) {
            self.name = name
            self.count = count
            self.assignments = assignments
        }
    }

    public var topics: [Topic]
    public var timeoutMilliseconds: Int32
    /// Check the request, change nothing.
    public var validateOnly: Bool

    public init(topics: [Topic], timeoutMilliseconds: Int32 = 30_000, validateOnly: Bool = false) {
        self.topics = topics
        self.timeoutMilliseconds = timeoutMilliseconds
        self.validateOnly = validateOnly
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let topics = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let name = try reader.string()
            let count = try reader.int32()
            let assignments = try reader.nullableArray { (reader: inout KafkaReader) throws(KafkaDecodingError) in
                try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.int32() }
            }
            return Topic(name: name, count: count, assignments: assignments)
        }
        let timeout = try reader.int32()
        let validateOnly = try reader.bool()
        return CreatePartitionsRequest(topics: topics, timeoutMilliseconds: timeout, validateOnly: validateOnly)
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.name)
            buffer.writeKafka(topic.count)
            buffer.writeKafkaArray(topic.assignments) { buffer, brokers in
                buffer.writeKafkaArray(brokers) { $0.writeKafka($1) }
            }
        }
        buffer.writeKafka(timeoutMilliseconds)
        buffer.writeKafka(validateOnly)
    }
}

/// CreatePartitions response, v0-1: the layout of CreateTopics' (v2-4), throttle time, then per
/// topic its name, error code and message.
public typealias CreatePartitionsResponse = CreateTopicsResponse
