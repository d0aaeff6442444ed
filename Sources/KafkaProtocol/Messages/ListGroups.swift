import NIOCore

/// ListGroups (key 16) request, v0-2: no fields.
public struct ListGroupsRequest: Sendable, Equatable {
    public init() {}

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self { ListGroupsRequest() }
}

/// ListGroups response: every group with its protocol type ("consumer" for consumer groups).
public struct ListGroupsResponse: Sendable, Equatable {
    public struct Group: Sendable, Equatable {
        public var groupID: String
        public var protocolType: String
        public init(groupID: String, protocolType: String) {
            self.groupID = groupID
            self.protocolType = protocolType
        }
    }

    public var errorCode: ErrorCode
    public var groups: [Group]

    public init(errorCode: ErrorCode = .none, groups: [Group]) {
        self.errorCode = errorCode
        self.groups = groups
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafkaArray(groups) { buffer, group in
            buffer.writeKafka(group.groupID)
            buffer.writeKafka(group.protocolType)
        }
    }
}
