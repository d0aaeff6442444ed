import Foundation
import SystemPackage

/// Where a topic's partitions live, the one home of the layout: partition 0
/// is the log named after the topic, so that every log of the data directory
/// is a topic; partition n > 0 is the log `partitions/<n>` inside it, so that
/// a topic is one directory, deleted at once. A topic has the partitions
/// 0..<n whose logs exist.
public enum TopicLayout {
    /// The folder, inside partition 0's log, of the topic's other partitions.
    public static let partitionsFolder = "partitions"

    /// The log directory of partition `partition` of the topic whose partition 0 is `topic`.
    public static func directory(of topic: FilePath, partition: Int32) -> FilePath {
        partition == 0 ? topic : topic.appending(partitionsFolder).appending(String(partition))
    }

    /// Whether `path` holds a log (a segment).
    static func holdsLog(_ path: FilePath) -> Bool {
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: path.string)) ?? []
        return contents.contains { $0.hasSuffix(".store") }
    }

    /// How many partitions the topic whose partition 0 is `topic` has; 0 when it holds no log.
    public static func partitionCount(of topic: FilePath) -> Int32 {
        guard holdsLog(topic) else { return 0 }
        var count: Int32 = 1
        while count < KafkaServerConfiguration.maxPartitions, holdsLog(directory(of: topic, partition: count)) { count += 1 }
        return count
    }
}
