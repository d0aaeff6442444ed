import NIOCore

/// FindCoordinator (key 10) request, v0-2: the coordinator of a group (key type 0)
/// or of a transactional id (1).
public struct FindCoordinatorRequest: Sendable, Equatable {
    public var key: String
    public var keyType: Int8
    public init(key: String, keyType: Int8 = 0) {
        self.key = key
        self.keyType = keyType
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let key = try reader.string()
        return FindCoordinatorRequest(key: key, keyType: version >= 1 ? try reader.int8() : 0)
    }
}

/// FindCoordinator response: the broker that coordinates the key (always this one).
public struct FindCoordinatorResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public var errorMessage: String?
    public var nodeID: Int32
    public var host: String
    public var port: Int32

    public init(errorCode: ErrorCode = .none, errorMessage: String? = nil, nodeID: Int32, host: String, port: Int32) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.nodeID = nodeID
        self.host = host
        self.port = port
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        if version >= 1 { buffer.writeKafka(errorMessage) }
        buffer.writeKafka(nodeID)
        buffer.writeKafka(host)
        buffer.writeKafka(port)
    }
}
