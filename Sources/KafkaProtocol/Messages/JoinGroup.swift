import NIOCore

/// JoinGroup (key 11) request, v0-5: a member joins (or rejoins) a group,
/// naming the assignment protocols it supports.
public struct JoinGroupRequest: Sendable, Equatable {
    public struct GroupProtocol: Sendable, Equatable {
        public var name: String
        public var metadata: [UInt8]
        public init(name: String, metadata: [UInt8]) {
            self.name = name
            self.metadata = metadata
        }
    }

    public var groupID: String
    public var sessionTimeoutMilliseconds: Int32
    /// v1+; v0 has none, and -1 means none: the session timeout stands in (KAFKA.md trap 7).
    public var rebalanceTimeoutMilliseconds: Int32
    /// Empty on a first join.
    public var memberID: String
    public var groupInstanceID: String?
    public var protocolType: String
    public var protocols: [GroupProtocol]

    public init(
        groupID: String, sessionTimeoutMilliseconds: Int32, rebalanceTimeoutMilliseconds: Int32, memberID: String,
        groupInstanceID: String? = nil, protocolType: String, protocols: [GroupProtocol]
    ) {
        self.groupID = groupID
        self.sessionTimeoutMilliseconds = sessionTimeoutMilliseconds
        self.rebalanceTimeoutMilliseconds = rebalanceTimeoutMilliseconds
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.protocolType = protocolType
        self.protocols = protocols
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groupID = try reader.string()
        let sessionTimeout = try reader.int32()
        let rebalanceTimeout = version >= 1 ? try reader.int32() : -1
        let memberID = try reader.string()
        let groupInstanceID = version >= 5 ? try reader.nullableString() : nil
        let protocolType = try reader.string()
        let protocols = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            GroupProtocol(name: try reader.string(), metadata: Array(try reader.bytes().readableBytesView))
        }
        return JoinGroupRequest(
            groupID: groupID, sessionTimeoutMilliseconds: sessionTimeout, rebalanceTimeoutMilliseconds: rebalanceTimeout,
            memberID: memberID, groupInstanceID: groupInstanceID, protocolType: protocolType, protocols: protocols)
    }

    /// The bytes a client sends (tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(groupID)
        buffer.writeKafka(sessionTimeoutMilliseconds)
        if version >= 1 { buffer.writeKafka(rebalanceTimeoutMilliseconds) }
        buffer.writeKafka(memberID)
        if version >= 5 { buffer.writeKafka(groupInstanceID) }
        buffer.writeKafka(protocolType)
        buffer.writeKafkaArray(protocols) { buffer, groupProtocol in
            buffer.writeKafka(groupProtocol.name)
            buffer.writeKafka(bytes: groupProtocol.metadata)
        }
    }
}

/// JoinGroup response: the generation, the chosen protocol, the leader, and
/// (to the leader only) every member's metadata.
public struct JoinGroupResponse: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberID: String
        public var groupInstanceID: String?
        public var metadata: [UInt8]
        public init(memberID: String, groupInstanceID: String? = nil, metadata: [UInt8]) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.metadata = metadata
        }
    }

    public var errorCode: ErrorCode
    public var generationID: Int32
    public var protocolName: String
    public var leader: String
    public var memberID: String
    public var members: [Member]

    public init(
        errorCode: ErrorCode, generationID: Int32 = -1, protocolName: String = "", leader: String = "", memberID: String,
        members: [Member] = []
    ) {
        self.errorCode = errorCode
        self.generationID = generationID
        self.protocolName = protocolName
        self.leader = leader
        self.memberID = memberID
        self.members = members
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 2 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafka(generationID)
        buffer.writeKafka(protocolName)
        buffer.writeKafka(leader)
        buffer.writeKafka(memberID)
        buffer.writeKafkaArray(members) { buffer, member in
            buffer.writeKafka(member.memberID)
            if version >= 5 { buffer.writeKafka(member.groupInstanceID) }
            buffer.writeKafka(bytes: member.metadata)
        }
    }
}
