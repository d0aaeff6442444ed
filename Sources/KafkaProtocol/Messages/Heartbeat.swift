import NIOCore

/// Heartbeat (key 12) request, v0-3: a member says it is alive in a generation.
public struct HeartbeatRequest: Sendable, Equatable {
    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil) {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        HeartbeatRequest(
            groupID: try reader.string(), generationID: try reader.int32(), memberID: try reader.string(),
            groupInstanceID: version >= 3 ? try reader.nullableString() : nil)
    }
}

/// Heartbeat response: an error code (REBALANCE_IN_PROGRESS tells the member to rejoin).
public struct HeartbeatResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public init(errorCode: ErrorCode) { self.errorCode = errorCode }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
    }
}
