import NIOCore

/// OffsetCommit (key 8) request, v2-7: a group's committed offsets, with metadata.
public struct OffsetCommitRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var committedOffset: Int64
        public var metadata: String?
        public init(index: Int32, committedOffset: Int64, metadata: String?) {
            self.index = index
            self.committedOffset = committedOffset
            self.metadata = metadata
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var groupID: String
    /// -1 for a simple consumer (no group membership).
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?
    public var topics: [Topic]

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, topics: [Topic]) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groupID = try reader.string()
        let generationID = try reader.int32()
        let memberID = try reader.string()
        let groupInstanceID = version >= 7 ? try reader.nullableString() : nil
        if version <= 4 { _ = try reader.int64() }  // retention_time_ms: offsets are kept until the group is reset
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let index = try reader.int32()
            let offset = try reader.int64()
            if version >= 6 { _ = try reader.int32() }  // committed_leader_epoch
            return Partition(index: index, committedOffset: offset, metadata: try reader.nullableString())
        }
        return OffsetCommitRequest(
            groupID: groupID, generationID: generationID, memberID: memberID, groupInstanceID: groupInstanceID, topics: topics)
    }
}

/// OffsetCommit response: an error code per partition.
public struct OffsetCommitResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var errorCode: ErrorCode
        public init(index: Int32, errorCode: ErrorCode) {
            self.index = index
            self.errorCode = errorCode
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 3 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.errorCode.rawValue)
        }
    }
}
