import NIOCore

/// TxnOffsetCommit (key 28) request, v0-2: a group's offsets committed inside
/// a producer's transaction, visible once the transaction commits (v1 is v0;
/// v2 adds the committed leader epoch).
public struct TxnOffsetCommitRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var committedOffset: Int64
        /// The leader epoch of the last consumed record (v2+); -1 when not sent.
        public var committedLeaderEpoch: Int32
        public var metadata: String?
        public init(index: Int32, committedOffset: Int64, committedLeaderEpoch: Int32 = -1, metadata: String?) {
            self.index = index
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.metadata = metadata
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var transactionalID: String
    public var groupID: String
    public var producerID: Int64
    public var producerEpoch: Int16
    public var topics: [Topic]

    public init(transactionalID: String, groupID: String, producerID: Int64, producerEpoch: Int16, topics: [Topic]) {
        self.transactionalID = transactionalID
        self.groupID = groupID
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let transactionalID = try reader.string()
        let groupID = try reader.string()
        let producerID = try reader.int64()
        let producerEpoch = try reader.int16()
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let index = try reader.int32()
            let offset = try reader.int64()
            let leaderEpoch = version >= 2 ? try reader.int32() : -1
            return Partition(
                index: index, committedOffset: offset, committedLeaderEpoch: leaderEpoch, metadata: try reader.nullableString())
        }
        return TxnOffsetCommitRequest(
            transactionalID: transactionalID, groupID: groupID, producerID: producerID, producerEpoch: producerEpoch,
            topics: topics)
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(transactionalID)
        buffer.writeKafka(groupID)
        buffer.writeKafka(producerID)
        buffer.writeKafka(producerEpoch)
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.committedOffset)
            if version >= 2 { buffer.writeKafka(partition.committedLeaderEpoch) }
            buffer.writeKafka(partition.metadata)
        }
    }
}

/// TxnOffsetCommit response, v0-2: throttle time, then an error code per
/// partition, the layout of AddPartitionsToTxn's.
public typealias TxnOffsetCommitResponse = AddPartitionsToTxnResponse
