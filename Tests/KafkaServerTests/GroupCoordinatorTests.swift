import KafkaProtocol
import Logging
import Testing

@testable import KafkaServer

/// The classic group protocol's state machine, driven as clients drive it,
/// with the edge cases that broke other Kafka-compatible servers (KAFKA.md trap 7).
@Suite struct GroupCoordinatorTests {
    static let logger = Logger(label: "test.coordinator")

    static func join(
        _ coordinator: GroupCoordinator, member: String = "", protocols: [String] = ["range"], session: Int32 = 1000,
        rebalance: Int32 = 5000, group: String = "g", instance: String? = nil
    ) async -> JoinGroupResponse {
        await coordinator.join(
            JoinGroupRequest(
                groupID: group, sessionTimeoutMilliseconds: session, rebalanceTimeoutMilliseconds: rebalance, memberID: member,
                groupInstanceID: instance, protocolType: "consumer",
                protocols: protocols.map { .init(name: $0, metadata: Array("\(instance ?? member)/\($0)".utf8)) }),
            clientID: "client", clientHost: "127.0.0.1")
    }

    static func sync(
        _ coordinator: GroupCoordinator, _ join: JoinGroupResponse, assignments: [String: String] = [:], group: String = "g"
    ) async -> SyncGroupResponse {
        await coordinator.sync(
            SyncGroupRequest(
                groupID: group, generationID: join.generationID, memberID: join.memberID,
                assignments: assignments.map { .init(memberID: $0.key, assignment: Array($0.value.utf8)) }))
    }

    static func heartbeat(_ coordinator: GroupCoordinator, _ join: JoinGroupResponse) async -> ErrorCode {
        await coordinator.heartbeat(HeartbeatRequest(groupID: "g", generationID: join.generationID, memberID: join.memberID))
    }

    /// Waits until the group is in `state`. The tests order their steps by the
    /// group's state, never by sleeping: on a loaded machine a task may start
    /// long after it was created.
    static func waitForState(_ coordinator: GroupCoordinator, _ state: String) async throws {
        let deadline = ContinuousClock.now + .seconds(600)
        while await coordinator.summary(of: "g")?.state != state {
            try #require(ContinuousClock.now < deadline, "the group never reached \(state)")
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// One member joins and syncs alone: generation 1, its own leader.
    static func stableAlone(_ coordinator: GroupCoordinator, session: Int32 = 60_000) async -> JoinGroupResponse {
        let joined = await join(coordinator, session: session)
        #expect(joined.errorCode == .none)
        let synced = await sync(coordinator, joined, assignments: [joined.memberID: "all"])
        #expect(synced.errorCode == .none)
        #expect(synced.assignment == Array("all".utf8))
        return joined
    }

    @Test func twoMembersJoinOneGenerationTheLeaderAssignsAndTheFollowerWaitsForIt() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        let first = await Self.stableAlone(coordinator)
        // A second member joins: the first must rejoin, then both are in generation 2.
        async let second = Self.join(coordinator, protocols: ["roundrobin", "range"])
        try await Self.waitForState(coordinator, "PreparingRebalance")
        #expect(await Self.heartbeat(coordinator, first) == .rebalanceInProgress)
        let rejoined = await Self.join(coordinator, member: first.memberID, protocols: ["roundrobin", "range"])
        let joined = await second
        #expect(rejoined.generationID == 2 && joined.generationID == 2)
        #expect(rejoined.protocolName == "roundrobin", "both prefer it")
        #expect(rejoined.leader == first.memberID && joined.leader == first.memberID, "the leader stays")
        #expect(Set(rejoined.members.map(\.memberID)) == [first.memberID, joined.memberID])
        #expect(
            rejoined.members.first { $0.memberID == joined.memberID }?.metadata == Array("/roundrobin".utf8),
            "the leader gets each member's metadata for the chosen protocol")
        #expect(joined.members.isEmpty, "only the leader gets the members")

        // The follower's sync may come before the leader's (it waits) or after (it gets its assignment at once).
        async let followerSync = Self.sync(coordinator, joined)
        let leaderSync = await Self.sync(
            coordinator, rejoined, assignments: [rejoined.memberID: "p0", joined.memberID: "none"])
        #expect(leaderSync.assignment == Array("p0".utf8))
        #expect(await followerSync.assignment == Array("none".utf8))
        #expect(await Self.heartbeat(coordinator, joined) == .none)
        let described = try #require(await coordinator.summary(of: "g"))
        #expect(described.state == "Stable" && described.members.count == 2)
        await coordinator.stop()
    }

    @Test func aMemberThatDoesNotRejoinIsDroppedAfterTheRebalanceTimeoutAndAMissingOneMeansTheSessionTimeout() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        // rebalance -1 (JoinGroup v0 has none): the session timeout, 1 s, stands in; no endless wait.
        let joined = await Self.join(coordinator, session: 1000, rebalance: -1)
        _ = await Self.sync(coordinator, joined, assignments: [joined.memberID: "all"])
        let clock = ContinuousClock()
        let start = clock.now
        let newcomer = await Self.join(coordinator, rebalance: -1)  // the first never rejoins
        let waited = clock.now - start
        #expect(newcomer.errorCode == .none)
        #expect(newcomer.generationID == 2 && newcomer.leader == newcomer.memberID)
        #expect(newcomer.members.map(\.memberID) == [newcomer.memberID], "the silent member is gone")
        #expect(waited >= .milliseconds(900), "the rebalance timeout (the session timeout here) passed first: \(waited)")
        #expect(await Self.heartbeat(coordinator, joined) == .unknownMemberID)
        await coordinator.stop()
    }

    @Test func aMemberThatStopsHeartbeatingExpiresAndTheOthersRebalance() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        await coordinator.start()
        let first = await Self.stableAlone(coordinator)
        async let secondJoin = Self.join(coordinator, session: 600_000)
        try await Self.waitForState(coordinator, "PreparingRebalance")
        // The first rejoins with a 1 s session, the second keeps a long one.
        let firstAgain = await Self.join(coordinator, member: first.memberID, session: 1000)
        let second = await secondJoin
        async let followerSync = Self.sync(coordinator, second)
        _ = await Self.sync(coordinator, firstAgain, assignments: [firstAgain.memberID: "p0"])
        _ = await followerSync
        // Only the second heartbeats; the first's 1 s session runs out.
        var code = ErrorCode.none
        let deadline = ContinuousClock.now + .seconds(600)
        while code == .none && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            code = await Self.heartbeat(coordinator, second)
        }
        #expect(code == .rebalanceInProgress)
        let rejoined = await Self.join(coordinator, member: second.memberID, session: 600_000)
        #expect(rejoined.generationID == firstAgain.generationID + 1)
        #expect(rejoined.leader == second.memberID, "the expired leader's place goes to the one left")
        #expect(rejoined.members.map(\.memberID) == [second.memberID])
        await coordinator.stop()
    }

    @Test func leavingEmptiesTheGroupAndCommitsFollowKafkasRules() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        #expect(await coordinator.checkCommit(groupID: "g", generationID: -1, memberID: "") == .none, "a simple consumer")
        let joined = await Self.stableAlone(coordinator)
        #expect(await coordinator.checkCommit(groupID: "g", generationID: -1, memberID: "") == .unknownMemberID)
        #expect(await coordinator.checkCommit(groupID: "g", generationID: 7, memberID: joined.memberID) == .illegalGeneration)
        #expect(await coordinator.checkCommit(groupID: "g", generationID: 1, memberID: joined.memberID) == .none)
        let left = await coordinator.leave(LeaveGroupRequest(groupID: "g", members: [.init(memberID: joined.memberID)]))
        #expect(left.errorCode == .none)
        #expect(await coordinator.summary(of: "g")?.state == "Empty")
        #expect(await coordinator.checkCommit(groupID: "g", generationID: -1, memberID: "") == .none)
        let again = await coordinator.leave(LeaveGroupRequest(groupID: "g", members: [.init(memberID: joined.memberID)]))
        #expect(again.errorCode == .unknownMemberID)
        let rejoined = await Self.join(coordinator)
        #expect(rejoined.generationID == 3, "generations only grow: 1, emptied 2, then 3")
        await coordinator.stop()
    }

    @Test func aStaticMemberThatRestartsTakesItsPlaceWithoutARebalanceAndItsOldIDIsFenced() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        let first = await Self.join(coordinator, session: 60_000, instance: "a")
        #expect(await Self.sync(coordinator, first, assignments: [first.memberID: "all"]).errorCode == .none)
        async let secondJoin = Self.join(coordinator, session: 60_000, instance: "b")
        try await Self.waitForState(coordinator, "PreparingRebalance")
        let leader = await Self.join(coordinator, member: first.memberID, session: 60_000, instance: "a")
        let second = await secondJoin
        #expect(leader.generationID == 2 && second.generationID == 2 && leader.leader == leader.memberID)
        async let followerSync = Self.sync(coordinator, second)
        _ = await Self.sync(coordinator, leader, assignments: [leader.memberID: "p0", second.memberID: "p1"])
        #expect(await followerSync.assignment == Array("p1".utf8))

        // "b" restarts: it joins with no member id under its instance id, and takes its place.
        let restarted = await Self.join(coordinator, session: 60_000, instance: "b")
        #expect(restarted.errorCode == .none && restarted.generationID == 2 && restarted.memberID != second.memberID)
        #expect(restarted.leader == leader.memberID && restarted.members.isEmpty)
        #expect(await coordinator.summary(of: "g")?.state == "Stable", "no rebalance")
        #expect(await Self.heartbeat(coordinator, leader) == .none, "the other member goes on undisturbed")
        #expect(await Self.sync(coordinator, restarted).assignment == Array("p1".utf8), "its assignment, kept")
        #expect(await Self.heartbeat(coordinator, second) == .unknownMemberID, "the old member id is gone")
        let fencedBeat = await coordinator.heartbeat(
            HeartbeatRequest(groupID: "g", generationID: 2, memberID: second.memberID, groupInstanceID: "b"))
        #expect(fencedBeat == .fencedInstanceID, "the old incarnation, still running, learns it was replaced")
        let fencedSync = await coordinator.sync(
            SyncGroupRequest(
                groupID: "g", generationID: 2, memberID: second.memberID, groupInstanceID: "b", assignments: []))
        #expect(fencedSync.errorCode == .fencedInstanceID)
        let fencedCommit = await coordinator.checkCommit(
            groupID: "g", generationID: 2, memberID: second.memberID, groupInstanceID: "b")
        #expect(fencedCommit == .fencedInstanceID)
        let stale = await Self.join(coordinator, member: second.memberID, session: 60_000, instance: "b")
        #expect(stale.errorCode == .fencedInstanceID)

        // The leader restarts: no rebalance either; the answer names the leader it replaces, so it does not assign.
        let leaderRestarted = await Self.join(coordinator, session: 60_000, instance: "a")
        #expect(leaderRestarted.generationID == 2 && leaderRestarted.memberID != leader.memberID)
        #expect(leaderRestarted.leader == leader.memberID && leaderRestarted.members.isEmpty)
        #expect(await Self.sync(coordinator, leaderRestarted).assignment == Array("p0".utf8))

        // Rejoining with other protocols is a rebalance, as for any member.
        async let changed = Self.join(coordinator, protocols: ["roundrobin", "range"], session: 60_000, instance: "b")
        try await Self.waitForState(coordinator, "PreparingRebalance")
        let leaderAgain = await Self.join(coordinator, member: leaderRestarted.memberID, session: 60_000, instance: "a")
        #expect(await changed.generationID == 3 && leaderAgain.generationID == 3)

        // LeaveGroup v3+ names a static member by its instance id; a stale member id is fenced.
        let fenced = await coordinator.leave(
            LeaveGroupRequest(groupID: "g", members: [.init(memberID: leader.memberID, groupInstanceID: "a")]))
        #expect(fenced.members.first?.errorCode == .fencedInstanceID)
        let left = await coordinator.leave(LeaveGroupRequest(groupID: "g", members: [.init(memberID: "", groupInstanceID: "b")]))
        #expect(left.members.first?.errorCode == ErrorCode.none)
        #expect(await coordinator.summary(of: "g")?.members.count == 1)
        await coordinator.stop()
    }

    @Test func badJoinsGetTheirErrorAtOnce() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        #expect(await Self.join(coordinator, member: "who").errorCode == .unknownMemberID)
        #expect(await Self.join(coordinator, session: 10).errorCode == .invalidSessionTimeout)
        #expect(await Self.join(coordinator, group: "").errorCode == .invalidGroupID)
        _ = await Self.stableAlone(coordinator)
        #expect(await Self.join(coordinator, protocols: ["other"]).errorCode == .inconsistentGroupProtocol)
        await coordinator.stop()
    }

    @Test func aNewGroupWaitsTheInitialDelaySoThatMembersStartingTogetherShareOneGeneration() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger, initialRebalanceDelay: .milliseconds(500))
        let clock = ContinuousClock()
        let start = clock.now
        async let first = Self.join(coordinator)
        try await Self.waitForState(coordinator, "PreparingRebalance")
        let second = await Self.join(coordinator)
        let other = await first
        #expect(clock.now - start >= .milliseconds(450), "the first join waited for the delay")
        #expect(other.generationID == 1 && second.generationID == 1, "one generation for both")
        let leader = other.leader == other.memberID ? other : second
        #expect(leader.members.count == 2, "the leader sees both members")
        // A rebalance of a group with members is not delayed: the last member's rejoin completes it.
        _ = await Self.sync(coordinator, leader, assignments: [leader.memberID: "p0"])
        let follower = leader.memberID == other.memberID ? second : other
        let left = await coordinator.leave(LeaveGroupRequest(groupID: "g", members: [.init(memberID: follower.memberID)]))
        #expect(left.errorCode == .none)
        let rejoined = await Self.join(coordinator, member: leader.memberID)
        #expect(rejoined.generationID == 2 && rejoined.members.map(\.memberID) == [leader.memberID])
        await coordinator.stop()
    }

    @Test func stoppingAnswersJoinsThatWaitForOtherMembers() async throws {
        let coordinator = GroupCoordinator(logger: Self.logger)
        _ = await Self.stableAlone(coordinator)
        async let waiting = Self.join(coordinator, rebalance: 60_000)
        try await Self.waitForState(coordinator, "PreparingRebalance")
        await coordinator.stop()
        #expect(await waiting.errorCode == .coordinatorNotAvailable)
    }
}
