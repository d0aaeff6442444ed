/// A group's committed offset: the next offset it reads, and the metadata
/// string a Kafka client committed with it (empty for `Consumer` commits).
public struct CommittedOffset: Sendable, Hashable {
    public var offset: Int64
    public var metadata: [UInt8]
    public init(offset: Int64, metadata: [UInt8] = []) {
        self.offset = offset
        self.metadata = metadata
    }
}

/// A consumer group as `groups` lists it.
public struct GroupInfo: Sendable, Hashable {
    public var group: String
    public var committedOffset: Int64?
    /// Records between the committed offset and the log's next offset.
    public var lag: Int64?
}

extension Log {
    /// The consumer groups of this log with their committed offsets and lag.
    public func groups() throws -> [GroupInfo] {
        let directory = Consumer.groupsDirectory(of: self.directory)
        let next = nextOffset
        return try GroupOffsetStore.groups(in: directory).map { group in
            let committed = try GroupOffsetStore(directory: directory, group: group, exclusive: false).committedOffset?.offset
            return GroupInfo(group: group, committedOffset: committed, lag: committed.map { max(0, next - $0) })
        }
    }

    /// Sets the committed offset of `group` (which must not have a live consumer).
    /// - Throws: `.unavailable` when a consumer holds the group, `.invalidArgument`
    ///   for a bad name or an offset past the next one.
    public func resetGroup(_ group: String, to offset: Int64) throws {
        try commitOffset(offset, group: group)
    }

    /// Durably commits `offset` (the next offset `group` reads) with `metadata`,
    /// as Kafka's OffsetCommit does: a `Consumer` of the group (`logd read --group`)
    /// resumes there, and `committedOffset(group:)` returns both.
    /// An offset past the next one is stored as Kafka stores it; a `Consumer`
    /// then starts where its reset policy says (`Consumer` logs why).
    /// - Throws: `.unavailable` while a `Consumer` of the group is alive (in any
    ///   process), `.invalidArgument` for a bad name, an offset below 0, or
    ///   metadata over `maxCommitMetadataBytes`.
    public func commitOffset(_ offset: Int64, metadata: [UInt8] = [], group: String) throws {
        try LogNames.validate(group, what: "consumer group", maxBytes: LogNames.maxGroupBytes)
        guard offset >= 0 else {
            throw LogStoreError(
                .invalidArgument, "cannot set group '\(group)' to offset \(offset): offsets start at 0",
                path: directory.string, offset: offset)
        }
        let store = try GroupOffsetStore(directory: Consumer.groupsDirectory(of: directory), group: group, exclusive: true)
        try store.commit(offset, metadata: metadata)
    }

    /// The longest metadata `commitOffset` stores.
    public static var maxCommitMetadataBytes: Int { GroupOffsetStore.maxMetadataBytes }

    /// The committed offset of `group` and its metadata; nil when it never committed.
    /// - Throws: `.invalidArgument` for a bad name.
    public func committedOffset(group: String) throws -> CommittedOffset? {
        try LogNames.validate(group, what: "consumer group", maxBytes: LogNames.maxGroupBytes)
        let directory = Consumer.groupsDirectory(of: self.directory)
        guard FileSystem.exists(directory.appending(group + ".offset")) else { return nil }
        return try GroupOffsetStore(directory: directory, group: group, exclusive: false).committedOffset
    }
}
