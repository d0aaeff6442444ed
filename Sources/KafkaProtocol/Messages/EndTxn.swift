import NIOCore

/// EndTxn (key 26) request, v0-2: a transactional producer commits or aborts
/// its transaction (v1 is v0; v2 only allows the PRODUCER_FENCED error).
public struct EndTxnRequest: Sendable, Equatable {
    public var transactionalID: String
    public var producerID: Int64
    public var producerEpoch: Int16
    /// True to commit the transaction, false to abort it.
    public var committed: Bool

    public init(transactionalID: String, producerID: Int64, producerEpoch: Int16, committed: Bool) {
        self.transactionalID = transactionalID
        self.producerID = producerID
        self.producerEpoch = producerEpoch
        self.committed = committed
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        EndTxnRequest(
            transactionalID: try reader.string(), producerID: try reader.int64(), producerEpoch: try reader.int16(),
            committed: try reader.bool())
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(transactionalID)
        buffer.writeKafka(producerID)
        buffer.writeKafka(producerEpoch)
        buffer.writeKafka(committed)
    }
}

/// EndTxn response, v0-2: throttle time and an error code.
public struct EndTxnResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public init(errorCode: ErrorCode = .none) { self.errorCode = errorCode }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms (v0+)
        buffer.writeKafka(errorCode.rawValue)
    }
}
