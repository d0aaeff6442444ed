import NIOCore

/// SyncGroup (key 14) request, v0-3: the leader hands in every member's
/// assignment; the others send none and wait for theirs.
public struct SyncGroupRequest: Sendable, Equatable {
    public struct Assignment: Sendable, Equatable {
        public var memberID: String
        public var assignment: [UInt8]
        public init(memberID: String, assignment: [UInt8]) {
            self.memberID = memberID
            self.assignment = assignment
        }
    }

    public var groupID: String
    public var generationID: Int32
    public var memberID: String
    public var groupInstanceID: String?
    public var assignments: [Assignment]

    public init(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil, assignments: [Assignment])
    {
        self.groupID = groupID
        self.generationID = generationID
        self.memberID = memberID
        self.groupInstanceID = groupInstanceID
        self.assignments = assignments
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let groupID = try reader.string()
        let generationID = try reader.int32()
        let memberID = try reader.string()
        let groupInstanceID = version >= 3 ? try reader.nullableString() : nil
        let assignments = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            Assignment(memberID: try reader.string(), assignment: Array(try reader.bytes().readableBytesView))
        }
        return SyncGroupRequest(
            groupID: groupID, generationID: generationID, memberID: memberID, groupInstanceID: groupInstanceID,
            assignments: assignments)
    }
}

/// SyncGroup response: this member's assignment.
public struct SyncGroupResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public var assignment: [UInt8]

    public init(errorCode: ErrorCode, assignment: [UInt8] = []) {
        self.errorCode = errorCode
        self.assignment = assignment
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafka(bytes: assignment)
    }
}
