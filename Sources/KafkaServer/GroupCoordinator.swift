import KafkaProtocol
import Logging

/// The classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat,
/// LeaveGroup), kept in memory as Kafka's coordinator keeps it between
/// restarts of its members: after a restart of the server, members get
/// UNKNOWN_MEMBER_ID and join again. Committed offsets are not kept here but
/// in the logs' group files (RequestHandler+Groups).
///
/// A group goes Empty → PreparingRebalance (members join) →
/// CompletingRebalance (the leader assigns, the others wait in SyncGroup) →
/// Stable, and back to PreparingRebalance when a member joins, leaves, changes
/// its protocols or stops heartbeating (KAFKA.md trap 7).
///
/// Static members (KIP-345, `group.instance.id`, JoinGroup v5): a member that
/// restarts and joins again under its instance id takes its old place, with a
/// new member id and its assignment, without a rebalance of a Stable group;
/// the old member id is fenced.
actor GroupCoordinator {
    enum State: String {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    /// Limits of a member's session timeout (Kafka's group.min/max.session.timeout.ms,
    /// with a lower minimum so that tests and impatient clients may use 1 s).
    static let sessionTimeouts: ClosedRange<Int32> = 1000...1_800_000

    final class Member {
        /// Replaced when a static member joins again under its instance id.
        var id: String
        var groupInstanceID: String?
        var clientID: String
        var clientHost: String
        var sessionTimeout: Duration
        var rebalanceTimeout: Duration
        var protocols: [JoinGroupRequest.GroupProtocol]
        var assignment: [UInt8] = []
        var joinWaiter: CheckedContinuation<JoinGroupResponse, Never>?
        var syncWaiter: CheckedContinuation<SyncGroupResponse, Never>?
        /// When the session ends without a heartbeat (not while a join or sync waits).
        var deadline: ContinuousClock.Instant

        init(id: String, request: JoinGroupRequest, clientID: String, clientHost: String, now: ContinuousClock.Instant) {
            self.id = id
            groupInstanceID = request.groupInstanceID
            self.clientID = clientID
            self.clientHost = clientHost
            sessionTimeout = .milliseconds(request.sessionTimeoutMilliseconds)
            rebalanceTimeout = sessionTimeout
            protocols = request.protocols
            deadline = now + sessionTimeout
            update(request)
        }

        func update(_ request: JoinGroupRequest) {
            sessionTimeout = .milliseconds(request.sessionTimeoutMilliseconds)
            // v0 has no rebalance timeout and -1 means none: the session timeout stands in (trap 7).
            rebalanceTimeout =
                request.rebalanceTimeoutMilliseconds > 0 ? .milliseconds(request.rebalanceTimeoutMilliseconds) : sessionTimeout
            protocols = request.protocols
        }

        var isWaiting: Bool { joinWaiter != nil || syncWaiter != nil }

        func metadata(for protocolName: String) -> [UInt8] {
            protocols.first { $0.name == protocolName }?.metadata ?? []
        }
    }

    final class Group {
        let id: String
        var state = State.empty
        var generation: Int32 = 0
        var protocolType: String?
        var protocolName: String?
        var leader: String?
        /// In join order: the first member becomes the leader.
        var members: [Member] = []
        /// Bumped at each rebalance, so that a stale rebalance timer does nothing.
        var rebalanceRound = 0
        /// A new group's first join phase waits for more members until then.
        var initialDelayEnds: ContinuousClock.Instant?

        init(id: String) { self.id = id }

        func member(_ id: String) -> Member? { members.first { $0.id == id } }
        /// The static member of that instance id.
        func member(instance: String?) -> Member? { instance.flatMap { id in members.first { $0.groupInstanceID == id } } }
    }

    private var groups: [String: Group] = [:]
    private let logger: Logger
    private let clock = ContinuousClock()
    private var expiryTask: Task<Void, Never>?
    private var memberCounter = 0

    /// How long a new (Empty) group's first join phase stays open for more
    /// members (Kafka's group.initial.rebalance.delay.ms, 3 s by default), so
    /// that members starting together share one rebalance.
    private let initialRebalanceDelay: Duration

    init(logger: Logger, initialRebalanceDelay: Duration = .zero) {
        self.logger = logger
        self.initialRebalanceDelay = initialRebalanceDelay
    }

    /// Starts expiring members whose session ended; `stop()` ends it and
    /// answers every waiting join and sync.
    func start() {
        guard expiryTask == nil else { return }
        expiryTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                await self?.expireSessions()
            }
        }
    }

    func stop() {
        expiryTask?.cancel()
        expiryTask = nil
        for group in groups.values {
            for member in group.members {
                member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .coordinatorNotAvailable, memberID: member.id))
                member.joinWaiter = nil
                member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .coordinatorNotAvailable))
                member.syncWaiter = nil
            }
            group.members = []
            group.state = .dead
        }
    }

    // MARK: JoinGroup

    /// Answers once the group's join phase completes (every member rejoined,
    /// or the rebalance timeout dropped those that did not), or at once with an error.
    func join(_ request: JoinGroupRequest, clientID: String, clientHost: String) async -> JoinGroupResponse {
        func failed(_ code: ErrorCode) -> JoinGroupResponse { JoinGroupResponse(errorCode: code, memberID: request.memberID) }
        guard !request.groupID.isEmpty else { return failed(.invalidGroupID) }
        guard Self.sessionTimeouts.contains(request.sessionTimeoutMilliseconds) else { return failed(.invalidSessionTimeout) }
        guard !request.protocolType.isEmpty, !request.protocols.isEmpty else { return failed(.inconsistentGroupProtocol) }
        let group = groups[request.groupID] ?? Group(id: request.groupID)
        if group.state == .dead { return failed(.coordinatorNotAvailable) }
        groups[request.groupID] = group
        if !group.members.isEmpty {
            let others = group.members.filter { $0.id != request.memberID }
            let names = Set(request.protocols.map(\.name))
            guard group.protocolType == request.protocolType,
                others.allSatisfy({ member in member.protocols.contains { names.contains($0.name) } })
            else { return failed(.inconsistentGroupProtocol) }
        }

        let now = clock.now
        let member: Member
        let staticMember = group.member(instance: request.groupInstanceID)
        if request.memberID.isEmpty, let staticMember {
            member = staticMember
            if let answer = rejoin(staticMember, of: group, request, clientID: clientID, clientHost: clientHost) { return answer }
        } else if request.memberID.isEmpty {
            let id = newMemberID(clientID)
            member = Member(id: id, request: request, clientID: clientID, clientHost: clientHost, now: now)
            group.members.append(member)
            logger.info("kafka.group_member_joined", metadata: ["kafka.group": "\(group.id)", "kafka.member": "\(id)"])
        } else {
            guard let existing = group.member(request.memberID) else {
                // The instance id's member has another id now: this one was replaced (KIP-345).
                return failed(staticMember == nil ? .unknownMemberID : .fencedInstanceID)
            }
            member = existing
            let unchanged = member.protocols == request.protocols
            member.update(request)
            member.clientHost = clientHost
            // A known member rejoining with what it had, outside a rebalance: it missed the
            // JoinGroup answer; give it the current generation again rather than rebalancing.
            if unchanged, member.id != group.leader, group.state == .stable || group.state == .completingRebalance {
                return joinResponse(group, for: member)
            }
        }
        group.protocolType = request.protocolType
        // A rejoin replaces a join still waiting on the same member (the client gave up on it).
        member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .unknownMemberID, memberID: member.id))
        member.joinWaiter = nil
        return await withCheckedContinuation { continuation in
            member.joinWaiter = continuation
            if group.state != .preparingRebalance { prepareRebalance(group, reason: "member \(member.id) joined") }
            completeJoinIfReady(group)
        }
    }

    /// Whether `memberID` is a static member's old id: its instance id now belongs to another member
    /// (FENCED_INSTANCE_ID, which a client takes as fatal: another instance replaced it).
    private func isFenced(_ group: Group, memberID: String, instance: String?) -> Bool {
        guard let current = group.member(instance: instance) else { return false }
        return current.id != memberID
    }

    /// The error for a member id the group does not have: fenced when its instance id has another member now.
    private func unknownMember(groupID: String, memberID: String, instance: String?) -> ErrorCode {
        guard let group = groups[groupID], isFenced(group, memberID: memberID, instance: instance) else {
            return .unknownMemberID
        }
        return .fencedInstanceID
    }

    private func newMemberID(_ clientID: String) -> String {
        memberCounter += 1
        return "\(clientID.isEmpty ? "member" : clientID)-\(memberCounter)-\(UInt32.random(in: .min ... .max))"
    }

    /// A static member joining again under its instance id (it restarted): it
    /// takes the member's place under a new member id, and the old id is
    /// fenced. In a Stable group with the same protocols it gets the current
    /// generation and, at SyncGroup, its assignment: no rebalance. The leader
    /// named in that answer is the one before the replacement, so that a
    /// restarted leader does not assign (Kafka's rule). Otherwise it joins the
    /// rebalance as any member (nil: wait for the join phase).
    private func rejoin(
        _ member: Member, of group: Group, _ request: JoinGroupRequest, clientID: String, clientHost: String
    ) -> JoinGroupResponse? {
        let oldID = member.id
        let leader = group.leader
        member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .fencedInstanceID, memberID: oldID))
        member.joinWaiter = nil
        member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .fencedInstanceID))
        member.syncWaiter = nil
        let unchanged = member.protocols == request.protocols
        member.id = newMemberID(clientID)
        member.update(request)
        member.clientID = clientID
        member.clientHost = clientHost
        member.deadline = clock.now + member.sessionTimeout
        if group.leader == oldID { group.leader = member.id }
        logger.info(
            "kafka.group_static_member_rejoined",
            metadata: [
                "kafka.group": "\(group.id)", "kafka.member": "\(member.id)", "kafka.replaced_member": "\(oldID)",
                "kafka.group_instance": "\(request.groupInstanceID ?? "")",
            ])
        guard unchanged, group.state == .stable else { return nil }
        return JoinGroupResponse(
            errorCode: .none, generationID: group.generation, protocolName: group.protocolName ?? "", leader: leader ?? "",
            memberID: member.id, members: [])
    }

    /// Every member must rejoin: pending syncs are told to, and members that
    /// do not rejoin within the longest rebalance timeout are dropped.
    private func prepareRebalance(_ group: Group, reason: String) {
        if group.state == .empty, initialRebalanceDelay > .zero {
            group.initialDelayEnds = clock.now + initialRebalanceDelay
            let groupID = group.id
            let delay = initialRebalanceDelay
            Task { [weak self] in
                try? await Task.sleep(for: delay)
                await self?.initialDelayEnded(groupID)
            }
        }
        group.state = .preparingRebalance
        group.rebalanceRound += 1
        for member in group.members {
            member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .rebalanceInProgress))
            member.syncWaiter = nil
        }
        logger.info(
            "kafka.group_rebalancing",
            metadata: ["kafka.group": "\(group.id)", "kafka.generation": "\(group.generation)", "reason": "\(reason)"])
        let timeout = group.members.map(\.rebalanceTimeout).max() ?? .seconds(1)
        let round = group.rebalanceRound
        let groupID = group.id
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.rebalanceTimedOut(groupID, round: round)
        }
    }

    private func rebalanceTimedOut(_ groupID: String, round: Int) {
        guard let group = groups[groupID], group.rebalanceRound == round, group.state == .preparingRebalance else { return }
        for member in group.members where member.joinWaiter == nil {
            logger.info(
                "kafka.group_member_removed",
                metadata: ["kafka.group": "\(group.id)", "kafka.member": "\(member.id)", "reason": "did not rejoin in time"])
        }
        group.members.removeAll { $0.joinWaiter == nil }
        completeJoin(group)
    }

    private func completeJoinIfReady(_ group: Group) {
        guard group.state == .preparingRebalance, group.initialDelayEnds == nil,
            group.members.allSatisfy({ $0.joinWaiter != nil })
        else { return }
        completeJoin(group)
    }

    private func initialDelayEnded(_ groupID: String) {
        guard let group = groups[groupID], let ends = group.initialDelayEnds, clock.now >= ends else { return }
        group.initialDelayEnds = nil
        completeJoinIfReady(group)
    }

    /// Starts the next generation: picks the protocol, the leader, and answers every waiting join.
    private func completeJoin(_ group: Group) {
        group.initialDelayEnds = nil
        group.generation += 1
        group.rebalanceRound += 1
        guard !group.members.isEmpty else {
            group.state = .empty
            group.protocolName = nil
            group.leader = nil
            return
        }
        group.protocolName = Self.chooseProtocol(group.members)
        if group.leader.flatMap(group.member) == nil { group.leader = group.members.first?.id }
        group.state = .completingRebalance
        let now = clock.now
        for member in group.members {
            member.assignment = []
            member.deadline = now + member.sessionTimeout
            let response = joinResponse(group, for: member)
            member.joinWaiter?.resume(returning: response)
            member.joinWaiter = nil
        }
        logger.info(
            "kafka.group_generation",
            metadata: [
                "kafka.group": "\(group.id)", "kafka.generation": "\(group.generation)",
                "kafka.members": "\(group.members.count)", "kafka.protocol": "\(group.protocolName ?? "")",
            ])
    }

    private func joinResponse(_ group: Group, for member: Member) -> JoinGroupResponse {
        let protocolName = group.protocolName ?? ""
        let isLeader = group.leader == member.id
        return JoinGroupResponse(
            errorCode: .none, generationID: group.generation, protocolName: protocolName, leader: group.leader ?? "",
            memberID: member.id,
            members: isLeader
                ? group.members.map {
                    .init(memberID: $0.id, groupInstanceID: $0.groupInstanceID, metadata: $0.metadata(for: protocolName))
                } : [])
    }

    /// The protocol every member supports that most members prefer (ties: the
    /// first member's order), as Kafka's vote.
    static func chooseProtocol(_ members: [Member]) -> String? {
        guard let first = members.first else { return nil }
        let common = first.protocols.map(\.name).filter { name in members.allSatisfy { $0.protocols.contains { $0.name == name } }
        }
        var votes: [String: Int] = [:]
        for member in members {
            if let choice = member.protocols.first(where: { common.contains($0.name) }) { votes[choice.name, default: 0] += 1 }
        }
        let most = votes.values.max() ?? 0
        return common.first { votes[$0, default: 0] == most }
    }

    // MARK: SyncGroup, Heartbeat, LeaveGroup

    /// The leader's SyncGroup hands out the assignments; the others wait for it.
    func sync(_ request: SyncGroupRequest) async -> SyncGroupResponse {
        guard let group = groups[request.groupID], let member = group.member(request.memberID) else {
            return SyncGroupResponse(
                errorCode: unknownMember(groupID: request.groupID, memberID: request.memberID, instance: request.groupInstanceID))
        }
        guard request.generationID == group.generation else { return SyncGroupResponse(errorCode: .illegalGeneration) }
        member.deadline = clock.now + member.sessionTimeout
        switch group.state {
        case .empty, .dead: return SyncGroupResponse(errorCode: .unknownMemberID)
        case .preparingRebalance: return SyncGroupResponse(errorCode: .rebalanceInProgress)
        case .stable: return SyncGroupResponse(errorCode: .none, assignment: member.assignment)
        case .completingRebalance:
            return await withCheckedContinuation { continuation in
                member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .rebalanceInProgress))
                member.syncWaiter = continuation
                guard member.id == group.leader else { return }
                let assignments = Dictionary(
                    request.assignments.map { ($0.memberID, $0.assignment) }, uniquingKeysWith: { first, _ in first })
                group.state = .stable
                let now = clock.now
                for member in group.members {
                    member.assignment = assignments[member.id] ?? []
                    member.deadline = now + member.sessionTimeout
                    member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .none, assignment: member.assignment))
                    member.syncWaiter = nil
                }
                logger.info(
                    "kafka.group_stable", metadata: ["kafka.group": "\(group.id)", "kafka.generation": "\(group.generation)"])
            }
        }
    }

    func heartbeat(_ request: HeartbeatRequest) -> ErrorCode {
        guard let group = groups[request.groupID], let member = group.member(request.memberID) else {
            return unknownMember(groupID: request.groupID, memberID: request.memberID, instance: request.groupInstanceID)
        }
        guard request.generationID == group.generation else { return .illegalGeneration }
        member.deadline = clock.now + member.sessionTimeout
        switch group.state {
        case .preparingRebalance: return .rebalanceInProgress
        case .completingRebalance, .stable: return .none
        case .empty, .dead: return .unknownMemberID
        }
    }

    /// Removes the members; the others rebalance.
    func leave(_ request: LeaveGroupRequest) -> LeaveGroupResponse {
        guard let group = groups[request.groupID] else {
            let members = request.members.map { LeaveGroupResponse.Member(memberID: $0.memberID, errorCode: .unknownMemberID) }
            return LeaveGroupResponse(errorCode: .unknownMemberID, members: members)
        }
        var results: [LeaveGroupResponse.Member] = []
        for leaving in request.members {
            // v3+ may name a static member by its instance id alone; a member id that is not the
            // instance's current one is fenced (KIP-345).
            let byInstance = group.member(instance: leaving.groupInstanceID)
            let errorCode: ErrorCode
            if let byInstance, !leaving.memberID.isEmpty, byInstance.id != leaving.memberID {
                errorCode = .fencedInstanceID
            } else if let member = byInstance ?? group.member(leaving.memberID) {
                remove(member.id, from: group, reason: "left the group")
                errorCode = .none
            } else {
                errorCode = .unknownMemberID
            }
            results.append(.init(memberID: leaving.memberID, groupInstanceID: leaving.groupInstanceID, errorCode: errorCode))
        }
        // v0-2 carry one member: its error is the response's.
        let errorCode = request.members.count == 1 ? results[0].errorCode : .none
        return LeaveGroupResponse(errorCode: errorCode, members: results)
    }

    private func remove(_ memberID: String, from group: Group, reason: String) {
        guard let member = group.member(memberID) else { return }
        member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .unknownMemberID, memberID: member.id))
        member.joinWaiter = nil
        member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .unknownMemberID))
        member.syncWaiter = nil
        group.members.removeAll { $0.id == memberID }
        logger.info(
            "kafka.group_member_removed",
            metadata: ["kafka.group": "\(group.id)", "kafka.member": "\(memberID)", "reason": "\(reason)"])
        if group.leader == memberID { group.leader = nil }
        switch group.state {
        case .preparingRebalance:
            if group.members.isEmpty { completeJoin(group) } else { completeJoinIfReady(group) }
        case .completingRebalance, .stable:
            if group.members.isEmpty {
                group.generation += 1
                group.state = .empty
                group.protocolName = nil
            } else {
                prepareRebalance(group, reason: "member \(memberID) \(reason)")
            }
        case .empty, .dead: break
        }
    }

    /// Drops members whose session ended without a heartbeat (not those waiting in a join or sync).
    func expireSessions() {
        let now = clock.now
        for group in groups.values {
            for member in group.members where !member.isWaiting && member.deadline < now {
                remove(member.id, from: group, reason: "session timed out")
            }
        }
    }

    // MARK: Offsets and tools

    /// Whether an OffsetCommit from this member and generation may commit
    /// (Kafka's rules: a simple consumer, generation -1, only to a group without members).
    func checkCommit(groupID: String, generationID: Int32, memberID: String, groupInstanceID: String? = nil) -> ErrorCode {
        guard let group = groups[groupID], group.state != .empty else {
            return generationID < 0 ? .none : .unknownMemberID
        }
        if group.state == .dead { return .coordinatorNotAvailable }
        if isFenced(group, memberID: memberID, instance: groupInstanceID) { return .fencedInstanceID }
        guard let member = group.member(memberID) else { return .unknownMemberID }
        guard generationID == group.generation else { return .illegalGeneration }
        member.deadline = clock.now + member.sessionTimeout
        return group.state == .completingRebalance ? .rebalanceInProgress : .none
    }

    struct GroupSummary: Sendable {
        var id: String
        var state: String
        var protocolType: String
        var protocolName: String
        var members: [DescribeGroupsResponse.Member]
    }

    /// The groups with members or a generation now.
    func summaries() -> [GroupSummary] {
        groups.values.sorted { $0.id < $1.id }.map(summary)
    }

    func summary(of groupID: String) -> GroupSummary? { groups[groupID].map(summary) }

    private func summary(_ group: Group) -> GroupSummary {
        let protocolName = group.protocolName ?? ""
        return GroupSummary(
            id: group.id, state: group.state.rawValue, protocolType: group.protocolType ?? "", protocolName: protocolName,
            members: group.members.map {
                .init(
                    memberID: $0.id, groupInstanceID: $0.groupInstanceID, clientID: $0.clientID, clientHost: $0.clientHost,
                    metadata: $0.metadata(for: protocolName), assignment: $0.assignment)
            })
    }
}
