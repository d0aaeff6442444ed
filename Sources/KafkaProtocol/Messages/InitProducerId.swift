import NIOCore

/// InitProducerId (key 22) request, v0-1: an idempotent (or transactional) producer asks for its id.
public struct InitProducerIdRequest: Sendable, Equatable {
    public var transactionalID: String?
    public var transactionTimeoutMilliseconds: Int32
    public init(transactionalID: String?, transactionTimeoutMilliseconds: Int32) {
        self.transactionalID = transactionalID
        self.transactionTimeoutMilliseconds = transactionTimeoutMilliseconds
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        InitProducerIdRequest(transactionalID: try reader.nullableString(), transactionTimeoutMilliseconds: try reader.int32())
    }
}

public struct InitProducerIdResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public var producerID: Int64
    public var producerEpoch: Int16
    public init(errorCode: ErrorCode = .none, producerID: Int64, producerEpoch: Int16) {
        self.errorCode = errorCode
        self.producerID = producerID
        self.producerEpoch = producerEpoch
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafka(producerID)
        buffer.writeKafka(producerEpoch)
    }
}
