import NIOCore

/// AddOffsetsToTxn (key 25) request, v0-2: a transactional producer is about
/// to commit a group's offsets in its transaction (TxnOffsetCommit follows);
/// v1 is v0, v2 only allows the PRODUCER_FENCED error.
public struct AddOffsetsToTxnRequest: Sendable, Equatable {
    public var transactionalID: String
    public var producerID: Int64
    public var producerEpoch: Int16
    public var groupID: String

    public init(transactionalID: String, producerID: Int64, producerEpoch: Int16, groupID: String) {
        self.transactionalID = transactionalID
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.groupID = groupID
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        AddOffsetsToTxnRequest(
            transactionalID: try reader.string(), producerID: try reader.int64(), producerEpoch: try reader.int16(),
            groupID: try reader.string())
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(transactionalID)
        buffer.writeKafka(producerID)
        buffer.writeKafka(producerEpoch)
        buffer.writeKafka(groupID)
    }
}

/// AddOffsetsToTxn response, v0-2: throttle time and an error code.
public struct AddOffsetsToTxnResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public init(errorCode: ErrorCode = .none) { self.errorCode = errorCode }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms (v0+)
        buffer.writeKafka(errorCode.rawValue)
    }
}
