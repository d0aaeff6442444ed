import NIOCore

/// DescribeGroups (key 15) request, v0-4: the state and members of groups.
public struct DescribeGroupsRequest: Sendable, Equatable {
    public var groups: [String]
    public init(groups: [String]) { self.groups = groups }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groups = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.string() }
        if version >= 3 { _ = try reader.bool() }  // include_authorized_operations: not computed
        return DescribeGroupsRequest(groups: groups)
    }
}

/// DescribeGroups response: per group its state ("Stable", "PreparingRebalance",
/// "CompletingRebalance", "Empty", "Dead"), protocol and members.
public struct DescribeGroupsResponse: Sendable, Equatable {
    public struct Member: Sendable, Equatable {
        public var memberID: String
        public var groupInstanceID: String?
        public var clientID: String
        public var clientHost: String
        public var metadata: [UInt8]
        public var assignment: [UInt8]
        public init(
            memberID: String, groupInstanceID: String? = nil, clientID: String, clientHost: String, metadata: [UInt8],
            assignment: [UInt8]
        ) {
            self.memberID = memberID
            self.groupInstanceID = groupInstanceID
            self.clientID = clientID
            self.clientHost = clientHost
            self.metadata = metadata
            self.assignment = assignment
        }
    }

    public struct Group: Sendable, Equatable {
        public var errorCode: ErrorCode
        public var groupID: String
        public var state: String
        public var protocolType: String
        public var protocolName: String
        public var members: [Member]
        public init(
            errorCode: ErrorCode = .none, groupID: String, state: String, protocolType: String, protocolName: String,
            members: [Member]
        ) {
            self.errorCode = errorCode
            self.groupID = groupID
            self.state = state
            self.protocolType = protocolType
            self.protocolName = protocolName
            self.members = members
        }
    }

    public var groups: [Group]
    public init(groups: [Group]) { self.groups = groups }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafkaArray(groups) { buffer, group in
            buffer.writeKafka(group.errorCode.rawValue)
            buffer.writeKafka(group.groupID)
            buffer.writeKafka(group.state)
            buffer.writeKafka(group.protocolType)
            buffer.writeKafka(group.protocolName)  // protocol_data
            buffer.writeKafkaArray(group.members) { buffer, member in
                buffer.writeKafka(member.memberID)
                if version >= 4 { buffer.writeKafka(member.groupInstanceID) }
                buffer.writeKafka(member.clientID)
                buffer.writeKafka(member.clientHost)
                buffer.writeKafka(bytes: member.metadata)
                buffer.writeKafka(bytes: member.assignment)
            }
            if version >= 3 { buffer.writeKafka(Int32.min) }  // authorized_operations: not computed
        }
    }
}
