import NIOCore

/// ListOffsets (key 2) request, v1-5: an offset for a timestamp, -2 (earliest) or -1 (latest).
public struct ListOffsetsRequest: Sendable, Equatable {
    public static let earliestTimestamp: Int64 = -2
    public static let latestTimestamp: Int64 = -1

    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var timestamp: Int64
        public init(index: Int32, timestamp: Int64) {
            self.index = index
            self.timestamp = timestamp
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var topics: [Topic]
    /// 0: read_uncommitted; 1: read_committed (v2+), whose latest offset is the last stable offset.
    public var isolationLevel: Int8
    public init(isolationLevel: Int8 = 0, topics: [Topic]) {
        self.isolationLevel = isolationLevel
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        _ = try reader.int32()  // replica_id
        let isolationLevel = version >= 2 ? try reader.int8() : 0
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let index = try reader.int32()
            if version >= 4 { _ = try reader.int32() }  // current_leader_epoch
            return Partition(index: index, timestamp: try reader.int64())
        }
        return ListOffsetsRequest(isolationLevel: isolationLevel, topics: topics)
    }
}

/// ListOffsets response: per partition, the offset found and its timestamp (-1 when none).
public struct ListOffsetsResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var timestamp: Int64
        public var offset: Int64
        public init(index: Int32, errorCode: ErrorCode, timestamp: Int64 = -1, offset: Int64 = -1) {
            self.index = index
            self.errorCode = errorCode
            self.timestamp = timestamp
            self.offset = offset
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 2 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.errorCode.rawValue)
            buffer.writeKafka(partition.timestamp)
            buffer.writeKafka(partition.offset)
            if version >= 4 { buffer.writeKafka(Int32(partition.errorCode == .none ? 0 : -1)) }  // leader_epoch
        }
    }
}
