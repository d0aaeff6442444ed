import NIOCore

/// Produce (key 0) request, v3-8: record batches v2 for topic partitions.
public struct ProduceRequest: Sendable, Equatable {
    public struct PartitionData: Sendable, Equatable {
        public var index: Int32
        /// The partition's records as sent: one record batch v2 (from v3 on),
        /// passed to the log untouched but for the base offset.
        public var records: ByteBuffer?
        public init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
        }
    }

    public typealias TopicData = KafkaTopic<PartitionData>

    public var transactionalID: String?
    /// 0: no response at all; 1: once written; -1: once durable.
    public var acks: Int16
    public var timeoutMilliseconds: Int32
    public var topics: [TopicData]

    public init(transactionalID: String? = nil, acks: Int16, timeoutMilliseconds: Int32, topics: [TopicData]) {
        self.transactionalID = transactionalID
        self.acks = acks
        self.timeoutMilliseconds = timeoutMilliseconds
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let transactionalID = try reader.nullableString()
        let acks = try reader.int16()
        let timeout = try reader.int32()
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            PartitionData(index: try reader.int32(), records: try reader.nullableBytes())
        }
        return ProduceRequest(transactionalID: transactionalID, acks: acks, timeoutMilliseconds: timeout, topics: topics)
    }

    /// The bytes a client sends (tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(transactionalID)
        buffer.writeKafka(acks)
        buffer.writeKafka(timeoutMilliseconds)
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.records)
        }
    }
}

/// Produce response: per partition, an error code and the base offset given to the batch.
public struct ProduceResponse: Sendable, Equatable {
    public struct PartitionResponse: Sendable, Equatable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var baseOffset: Int64
        public var logStartOffset: Int64
        public var errorMessage: String?
        public init(
            index: Int32, errorCode: ErrorCode, baseOffset: Int64 = -1, logStartOffset: Int64 = -1, errorMessage: String? = nil
        ) {
            self.index = index
            self.errorCode = errorCode
            self.baseOffset = baseOffset
            self.logStartOffset = logStartOffset
            self.errorMessage = errorMessage
        }
    }

    public typealias TopicResponse = KafkaTopic<PartitionResponse>

    public var topics: [TopicResponse]

    public init(topics: [TopicResponse]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.errorCode.rawValue)
            buffer.writeKafka(partition.baseOffset)
            buffer.writeKafka(Int64(-1))  // log_append_time_ms: CreateTime topics
            if version >= 5 { buffer.writeKafka(partition.logStartOffset) }
            if version >= 8 {
                buffer.writeKafkaArray([Int32]()) { $0.writeKafka($1) }  // record_errors
                buffer.writeKafka(partition.errorMessage)
            }
        }
        buffer.writeKafka(Int32(0))  // throttle_time_ms
    }
}
