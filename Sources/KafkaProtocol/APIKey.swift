/// The Kafka APIs this server implements, by key, with the versions it
/// advertises: every version below each API's first "flexible" (KIP-482)
/// version, which every client negotiates down to (docs/KAFKA.md). The one
/// home of both facts.
public enum APIKey: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case initProducerId = 22
    case addPartitionsToTxn = 24
    case addOffsetsToTxn = 25
    case endTxn = 26
    case txnOffsetCommit = 28
    case describeConfigs = 32
    case alterConfigs = 33
    case createPartitions = 37

    /// The versions advertised in ApiVersions and accepted in requests.
    public var supportedVersions: ClosedRange<Int16> {
        switch self {
        case .produce: 3...8  // v3+: record batch v2 only; flexible from 9
        case .fetch: 4...11  // 12 is flexible, 13+ needs topic ids
        case .listOffsets: 1...5
        case .metadata: 0...8
        case .offsetCommit: 2...7
        case .offsetFetch: 1...5
        case .findCoordinator: 0...2
        case .joinGroup: 0...5
        case .heartbeat: 0...3
        case .leaveGroup: 0...3
        case .syncGroup: 0...3
        case .describeGroups: 0...4
        case .listGroups: 0...2
        case .apiVersions: 0...2  // v3 is flexible; a v3 request gets the v0 error body (KAFKA.md trap 1)
        case .createTopics: 2...4  // 5 is flexible
        case .deleteTopics: 1...3  // 4 is flexible
        case .initProducerId: 0...1
        case .addPartitionsToTxn: 0...2  // 3 is flexible
        case .addOffsetsToTxn: 0...2  // 3 is flexible
        case .endTxn: 0...2  // 3 is flexible
        case .txnOffsetCommit: 0...2  // 3 is flexible
        case .describeConfigs: 0...2  // 3 adds documentation, 4 is flexible
        case .alterConfigs: 0...1  // 2 is flexible
        case .createPartitions: 0...1  // 2 is flexible
        }
    }

    public var description: String {
        switch self {
        case .produce: "Produce"
        case .fetch: "Fetch"
        case .listOffsets: "ListOffsets"
        case .metadata: "Metadata"
        case .offsetCommit: "OffsetCommit"
        case .offsetFetch: "OffsetFetch"
        case .findCoordinator: "FindCoordinator"
        case .joinGroup: "JoinGroup"
        case .heartbeat: "Heartbeat"
        case .leaveGroup: "LeaveGroup"
        case .syncGroup: "SyncGroup"
        case .describeGroups: "DescribeGroups"
        case .listGroups: "ListGroups"
        case .apiVersions: "ApiVersions"
        case .createTopics: "CreateTopics"
        case .deleteTopics: "DeleteTopics"
        case .initProducerId: "InitProducerId"
        case .addPartitionsToTxn: "AddPartitionsToTxn"
        case .addOffsetsToTxn: "AddOffsetsToTxn"
        case .endTxn: "EndTxn"
        case .txnOffsetCommit: "TxnOffsetCommit"
        case .describeConfigs: "DescribeConfigs"
        case .alterConfigs: "AlterConfigs"
        case .createPartitions: "CreatePartitions"
        }
    }
}
