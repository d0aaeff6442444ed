import KafkaProtocol
import LogStore
import Logging

/// Consumer groups: membership through the `GroupCoordinator`, committed
/// offsets in the same group files as `logd read --group`
/// (`<log>/groups/<group>.offset`), so that a group moves between the CLI and
/// Kafka clients and `logd groups` shows Kafka groups with their lag.
extension RequestHandler {
    func offsetCommit(_ request: OffsetCommitRequest) async -> OffsetCommitResponse {
        func all(_ code: ErrorCode) -> OffsetCommitResponse {
            OffsetCommitResponse(
                topics: request.topics.map { topic in
                    .init(name: topic.name, partitions: topic.partitions.map { .init(index: $0.index, errorCode: code) })
                })
        }
        guard (try? LogNames.validate(request.groupID, what: "consumer group", maxBytes: LogNames.maxGroupBytes)) != nil else {
            return all(.invalidGroupID)
        }
        let allowed = await coordinator.checkCommit(
            groupID: request.groupID, generationID: request.generationID, memberID: request.memberID,
            groupInstanceID: request.groupInstanceID)
        guard allowed == .none else { return all(allowed) }
        return OffsetCommitResponse(
            topics: request.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { partition in
                        .init(index: partition.index, errorCode: commit(partition, topic: topic.name, group: request.groupID))
                    })
            })
    }

    /// The log an offset commit of `partition` of `topic` (a Kafka one or a
    /// transaction's) goes to, or why it cannot be kept: metadata too long,
    /// no such partition. Throws what opening the log throws.
    func commitTarget(topic: String, partition: Int32, metadata: String?) throws -> (log: Log?, problem: ErrorCode) {
        guard Array((metadata ?? "").utf8).count <= Log.maxCommitMetadataBytes else { return (nil, .offsetMetadataTooLarge) }
        guard let log = try topics.log(topic, partition: partition) else { return (nil, .unknownTopicOrPartition) }
        return (log, .none)
    }

    private func commit(_ partition: OffsetCommitRequest.Partition, topic: String, group: String) -> ErrorCode {
        do {
            let target = try commitTarget(topic: topic, partition: partition.index, metadata: partition.metadata)
            guard let log = target.log else { return target.problem }
            try log.commitOffset(partition.committedOffset, metadata: Array((partition.metadata ?? "").utf8), group: group)
            return .none
        } catch let error as LogStoreError {
            logger.warning(
                "kafka.commit_refused",
                metadata: ["kafka.group": "\(group)", "kafka.topic": "\(topic)", "error": "\(error)"])
            switch error.code {
            // A `logd read --group` consumer holds the group: retriable for the client.
            case .unavailable: return .coordinatorLoadInProgress
            case .invalidArgument: return .offsetOutOfRange
            default: return .kafkaStorageError
            }
        } catch {
            return .unknownServerError
        }
    }

    func offsetFetch(_ request: OffsetFetchRequest) -> OffsetFetchResponse {
        guard (try? LogNames.validate(request.groupID, what: "consumer group", maxBytes: LogNames.maxGroupBytes)) != nil else {
            return OffsetFetchResponse(topics: [], errorCode: .invalidGroupID)
        }
        // nil: every topic the group committed on.
        let asked =
            request.topics
            ?? topics.names().compactMap { name in
                let committed = (0..<topics.partitionCount(name)).filter { index in
                    (try? topics.log(name, partition: index)?.committedOffset(group: request.groupID)) != nil
                }
                return committed.isEmpty ? nil : KafkaTopic(name: name, partitions: committed)
            }
        return OffsetFetchResponse(
            topics: asked.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { index in
                        committed(index, topic: topic.name, group: request.groupID)
                    })
            })
    }

    private func committed(_ index: Int32, topic: String, group: String) -> OffsetFetchResponse.Partition {
        do {
            guard let log = try topics.log(topic, partition: index) else {
                return .init(index: index, committedOffset: -1, metadata: "", errorCode: .unknownTopicOrPartition)
            }
            // Nothing committed: -1 and no error (KAFKA.md trap 10).
            guard let committed = try log.committedOffset(group: group) else {
                return .init(index: index, committedOffset: -1, metadata: "")
            }
            return .init(
                index: index, committedOffset: committed.offset, metadata: String(decoding: committed.metadata, as: UTF8.self))
        } catch {
            logger.warning(
                "kafka.offset_fetch_failed",
                metadata: ["kafka.group": "\(group)", "kafka.topic": "\(topic)", "error": "\(error)"])
            return .init(index: index, committedOffset: -1, metadata: "", errorCode: .kafkaStorageError)
        }
    }

    /// The groups with members now, and those that only have committed offsets (Empty).
    func listGroups() async -> ListGroupsResponse {
        var groups = Dictionary(
            await coordinator.summaries().map { ($0.id, $0.protocolType) }, uniquingKeysWith: { first, _ in first })
        for group in committedGroups() where groups[group] == nil { groups[group] = "consumer" }
        return ListGroupsResponse(
            groups: groups.sorted { $0.key < $1.key }.map { .init(groupID: $0.key, protocolType: $0.value) })
    }

    func describeGroups(_ request: DescribeGroupsRequest) async -> DescribeGroupsResponse {
        var described: [DescribeGroupsResponse.Group] = []
        let withOffsets = Set(committedGroups())
        for id in request.groups {
            if let summary = await coordinator.summary(of: id), summary.state != "Empty" || !withOffsets.contains(id) {
                described.append(
                    .init(
                        groupID: id, state: summary.state, protocolType: summary.protocolType, protocolName: summary.protocolName,
                        members: summary.members))
            } else {
                // Kafka's answer for a group it does not know: Dead, no error.
                described.append(
                    .init(
                        groupID: id, state: withOffsets.contains(id) ? "Empty" : "Dead",
                        protocolType: withOffsets.contains(id) ? "consumer" : "", protocolName: "", members: []))
            }
        }
        return DescribeGroupsResponse(groups: described)
    }

    /// The groups with a committed offset on any partition.
    private func committedGroups() -> [String] {
        var groups: Set<String> = []
        for name in topics.names() {
            for index in 0..<topics.partitionCount(name) {
                groups.formUnion(((try? topics.log(name, partition: index)?.groups()) ?? []).map(\.group))
            }
        }
        return groups.sorted()
    }
}
