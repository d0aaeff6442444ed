import NIOCore

/// AddPartitionsToTxn (key 24) request, v0-2: a transactional producer names
/// the partitions it is about to write in its transaction, before the first
/// batch to each (v1 is v0; v2 only allows the PRODUCER_FENCED error).
public struct AddPartitionsToTxnRequest: Sendable, Equatable {
    /// A topic and the indexes of its partitions to add.
    public typealias Topic = KafkaTopic<Int32>

    public var transactionalID: String
    public var producerID: Int64
    public var producerEpoch: Int16
    public var topics: [Topic]

    public init(transactionalID: String, producerID: Int64, producerEpoch: Int16, topics: [Topic]) {
        self.transactionalID = transactionalID
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let transactionalID = try reader.string()
        let producerID = try reader.int64()
        let producerEpoch = try reader.int16()
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.int32() }
        return AddPartitionsToTxnRequest(
            transactionalID: transactionalID, producerID: producerID, producerEpoch: producerEpoch, topics: topics)
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(transactionalID)
        buffer.writeKafka(producerID)
        buffer.writeKafka(producerEpoch)
        buffer.writeKafkaTopics(topics) { $0.writeKafka($1) }
    }
}

/// AddPartitionsToTxn response, v0-2: throttle time, then an error code per partition.
public struct AddPartitionsToTxnResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var errorCode: ErrorCode
        public init(index: Int32, errorCode: ErrorCode = .none) {
            self.index = index
            self.errorCode = errorCode
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var topics: [Topic]
    public init(topics: [Topic]) { self.topics = topics }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms (v0+)
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.errorCode.rawValue)
        }
    }
}
