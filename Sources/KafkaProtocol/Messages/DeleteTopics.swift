import NIOCore

/// DeleteTopics (key 20) request, v1-3: topics to delete by name.
public struct DeleteTopicsRequest: Sendable, Equatable {
    public var topics: [String]
    public var timeoutMilliseconds: Int32

    public init(topics: [String], timeoutMilliseconds: Int32 = 30_000) {
        self.topics = topics
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let topics = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.string() }
        return DeleteTopicsRequest(topics: topics, timeoutMilliseconds: try reader.int32())
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(topics) { $0.writeKafka($1) }
        buffer.writeKafka(timeoutMilliseconds)
    }
}

/// DeleteTopics response: per topic an error code (no message before v5).
public struct DeleteTopicsResponse: Sendable, Equatable {
    public var topics: [(name: String, errorCode: ErrorCode)]

    public init(topics: [(name: String, errorCode: ErrorCode)]) {
        self.topics = topics
    }

    public static func == (left: Self, right: Self) -> Bool {
        left.topics.map(\.name) == right.topics.map(\.name) && left.topics.map(\.errorCode) == right.topics.map(\.errorCode)
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms (v1+)
        buffer.writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.name)
            buffer.writeKafka(topic.errorCode.rawValue)
        }
    }
}
