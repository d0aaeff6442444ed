import NIOCore

/// OffsetFetch (key 9) request, v1-5: a group's committed offsets.
public struct OffsetFetchRequest: Sendable, Equatable {
    public typealias Topic = KafkaTopic<Int32>

    public var groupID: String
    /// nil (v2+): every topic the group committed.
    public var topics: [Topic]?

    public init(groupID: String, topics: [Topic]?) {
        self.groupID = groupID
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groupID = try reader.string()
        let topics = try reader.nullableArray { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            Topic(
                name: try reader.string(),
                partitions: try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.int32() })
        }
        return OffsetFetchRequest(groupID: groupID, topics: topics)
    }
}

/// OffsetFetch response: per partition the committed offset (-1 when none) and its metadata.
public struct OffsetFetchResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var committedOffset: Int64
        public var metadata: String?
        public var errorCode: ErrorCode
        public init(index: Int32, committedOffset: Int64, metadata: String?, errorCode: ErrorCode = .none) {
            self.index = index
            self.committedOffset = committedOffset
            self.metadata = metadata
            self.errorCode = errorCode
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var topics: [Topic]
    public var errorCode: ErrorCode

    public init(topics: [Topic], errorCode: ErrorCode = .none) {
        self.topics = topics
        self.errorCode = errorCode
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.committedOffset)
            if version >= 5 { buffer.writeKafka(Int32(-1)) }  // committed_leader_epoch
            buffer.writeKafka(partition.metadata ?? "")
            buffer.writeKafka(partition.errorCode.rawValue)
        }
        if version >= 2 { buffer.writeKafka(errorCode.rawValue) }
    }
}
