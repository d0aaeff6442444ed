import NIOCore

/// LeaveGroup (key 13) request: v0-2 one member leaves; v3 several (KIP-345's batched form).
public struct LeaveGroupRequest: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberID: String
        public var groupInstanceID: String?
        public init(memberID: String, groupInstanceID: String? = nil) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
        }
    }

    public var groupID: String
    public var members: [Member]

    public init(groupID: String, members: [Member]) {
        self.groupID = groupID
        self.members = members
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groupID = try reader.string()
        if version <= 2 { return LeaveGroupRequest(groupID: groupID, members: [Member(memberID: try reader.string())]) }
        let members = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            Member(memberID: try reader.string(), groupInstanceID: try reader.nullableString())
        }
        return LeaveGroupRequest(groupID: groupID, members: members)
    }
}

/// LeaveGroup response: an error code, and from v3 one per member.
public struct LeaveGroupResponse: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberID: String
        public var groupInstanceID: String?
        public var errorCode: ErrorCode
        public init(memberID: String, groupInstanceID: String? = nil, errorCode: ErrorCode) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.errorCode = errorCode
        }
    }

    public var errorCode: ErrorCode
    public var members: [Member]

    public init(errorCode: ErrorCode, members: [Member] = []) {
        self.errorCode = errorCode
        self.members = members
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        if version >= 3 {
            buffer.writeKafkaArray(members) { buffer, member in
                buffer.writeKafka(member.memberID)
                buffer.writeKafka(member.groupInstanceID)
                buffer.writeKafka(member.errorCode.rawValue)
            }
        }
    }
}
