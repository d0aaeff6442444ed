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
            let committed = try GroupOffsetStore(directory: directory, group: group, exclusive: false).committedOffset
            return GroupInfo(group: group, committedOffset: committed, lag: committed.map { max(0, next - $0) })
        }
    }

    /// Sets the committed offset of `group` (which must not have a live consumer).
    /// - Throws: `.unavailable` when a consumer holds the group, `.invalidArgument`
    ///   for a bad name or an offset past the next one.
    public func resetGroup(_ group: String, to offset: Int64) throws {
        try LogNames.validate(group, what: "consumer group")
        guard offset >= 0, offset <= nextOffset else {
            throw LogStoreError(
                .invalidArgument, "cannot set group '\(group)' to offset \(offset): the log's next offset is \(nextOffset)",
                path: directory.string, offset: offset)
        }
        let store = try GroupOffsetStore(directory: Consumer.groupsDirectory(of: directory), group: group, exclusive: true)
        try store.commit(offset)
    }
}
