import NIOCore
import Testing

@testable import KafkaProtocol

@Suite("Kafka group requests: join, sync, heartbeat, leave, list, describe")
struct GroupRequestTests {
    static let join = JoinGroupRequest(
        groupID: "billing", sessionTimeoutMilliseconds: 10_000, rebalanceTimeoutMilliseconds: 30_000, memberID: "",
        groupInstanceID: "pod-1", protocolType: "consumer",
        protocols: [.init(name: "range", metadata: [0, 1, 2]), .init(name: "cooperative-sticky", metadata: [])])

    @Test("JoinGroup reads back at every version; v0 has no rebalance timeout (-1), v1-4 no instance id")
    func joinGroupVersions() throws {
        for version in APIKey.joinGroup.supportedVersions {
            let decoded = try KafkaRequest.decode(
                frame: frame(.joinGroup, version: version) { Self.join.encode(into: &$0, version: version) })
            guard case .joinGroup(let body) = decoded.body else { throw KafkaDecodingError(.invalid, "not join") }
            var expected = Self.join
            if version == 0 { expected.rebalanceTimeoutMilliseconds = -1 }
            if version < 5 { expected.groupInstanceID = nil }
            #expect(body == expected, "v\(version)")
        }
    }

    @Test("LeaveGroup v0-2 names one member; v3 a list of members with instance ids")
    func leaveGroupVersions() throws {
        let single = try KafkaRequest.decode(
            frame: frame(.leaveGroup, version: 1) { buffer in
                buffer.writeKafka("billing")
                buffer.writeKafka("member-1")
            })
        guard case .leaveGroup(let old) = single.body else { throw KafkaDecodingError(.invalid, "not leave") }
        #expect(old == LeaveGroupRequest(groupID: "billing", members: [.init(memberID: "member-1")]))
        let batched = try KafkaRequest.decode(
            frame: frame(.leaveGroup, version: 3) { buffer in
                buffer.writeKafka("billing")
                buffer.writeKafka(Int32(2))
                buffer.writeKafka("a")
                buffer.writeKafka(String?.none)
                buffer.writeKafka("b")
                buffer.writeKafka("pod-2")
            })
        guard case .leaveGroup(let new) = batched.body else { throw KafkaDecodingError(.invalid, "not leave") }
        #expect(new.members == [.init(memberID: "a"), .init(memberID: "b", groupInstanceID: "pod-2")])
    }

    @Test("SyncGroup and Heartbeat carry the generation and member; instance ids from v3")
    func syncAndHeartbeat() throws {
        let sync = try KafkaRequest.decode(
            frame: frame(.syncGroup, version: 3) { buffer in
                buffer.writeKafka("billing")
                buffer.writeKafka(Int32(4))
                buffer.writeKafka("leader")
                buffer.writeKafka("pod-1")
                buffer.writeKafka(Int32(1))
                buffer.writeKafka("leader")
                buffer.writeKafka(bytes: [9, 9])
            })
        guard case .syncGroup(let body) = sync.body else { throw KafkaDecodingError(.invalid, "not sync") }
        #expect(
            body
                == SyncGroupRequest(
                    groupID: "billing", generationID: 4, memberID: "leader", groupInstanceID: "pod-1",
                    assignments: [.init(memberID: "leader", assignment: [9, 9])]))
        let heartbeat = try KafkaRequest.decode(
            frame: frame(.heartbeat, version: 0) { buffer in
                buffer.writeKafka("billing")
                buffer.writeKafka(Int32(4))
                buffer.writeKafka("leader")
            })
        guard case .heartbeat(let beat) = heartbeat.body else { throw KafkaDecodingError(.invalid, "not heartbeat") }
        #expect(beat == HeartbeatRequest(groupID: "billing", generationID: 4, memberID: "leader"))
    }

    @Test("response layouts grow with the version: throttle time, instance ids, per-member errors")
    func responseLayouts() {
        func size(_ encode: (inout ByteBuffer) -> Void) -> Int {
            var buffer = ByteBuffer()
            encode(&buffer)
            return buffer.readableBytes
        }
        let join = JoinGroupResponse(
            errorCode: .none, generationID: 1, protocolName: "range", leader: "m", memberID: "m",
            members: [.init(memberID: "m", metadata: [1])])
        // v0: error 2, generation 4, protocol 2+5, leader 2+1, member 2+1, count 4, member (2+1, 4+1).
        #expect(size { join.encode(into: &$0, version: 0) } == 2 + 4 + 7 + 3 + 3 + 4 + 3 + 5)
        #expect(size { join.encode(into: &$0, version: 2) } == 4 + 2 + 4 + 7 + 3 + 3 + 4 + 3 + 5)
        #expect(size { join.encode(into: &$0, version: 5) } == 4 + 2 + 4 + 7 + 3 + 3 + 4 + 3 + 2 + 5)
        let leave = LeaveGroupResponse(errorCode: .none, members: [.init(memberID: "m", errorCode: .none)])
        #expect(size { leave.encode(into: &$0, version: 0) } == 2)
        #expect(size { leave.encode(into: &$0, version: 3) } == 4 + 2 + 4 + 3 + 2 + 2)
        #expect(size { SyncGroupResponse(errorCode: .none, assignment: [1, 2]).encode(into: &$0, version: 0) } == 2 + 4 + 2)
        #expect(size { HeartbeatResponse(errorCode: .rebalanceInProgress).encode(into: &$0, version: 1) } == 4 + 2)
    }
}
