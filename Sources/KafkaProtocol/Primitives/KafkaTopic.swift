import NIOCore

/// A topic name and its partitions' entries: the shape every topic-keyed
/// request and response of Kafka shares (`[name, partitions: [...]]`), with
/// the partition entry as each message defines it.
public struct KafkaTopic<Partition: Sendable & Equatable>: Sendable, Equatable {
    public var name: String
    public var partitions: [Partition]

    public init(name: String, partitions: [Partition]) {
        self.name = name
        self.partitions = partitions
    }
}

/// Kafka's rule for topic names (`org.apache.kafka.common.internals.Topic`):
/// 1 to 249 of `a-z A-Z 0-9 . _ -`, and neither `.` nor `..`.
public enum KafkaTopicName {
    public static let maxLength = 249

    /// What is wrong with `name` as a Kafka topic name, nil when nothing is.
    public static func problem(with name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength else {
            return "a topic name takes 1 to \(maxLength) characters, '\(name)' has \(bytes.count)"
        }
        guard name != ".", name != ".." else { return "a topic cannot be named '\(name)'" }
        let legal = bytes.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        return legal ? nil : "topic name '\(name)' has a character other than a-z, A-Z, 0-9, '.', '_' and '-'"
    }
}

extension KafkaReader {
    /// ARRAY of topics, each a name and an ARRAY of partition entries read by `partition`.
    mutating func topics<Partition>(
        _ partition: (inout KafkaReader) throws(KafkaDecodingError) -> Partition
    ) throws(KafkaDecodingError) -> [KafkaTopic<Partition>] {
        try array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            KafkaTopic(name: try reader.string(), partitions: try reader.array(partition))
        }
    }
}

extension ByteBuffer {
    /// ARRAY of topics, each a name and an ARRAY of partition entries written by `partition`.
    mutating func writeKafkaTopics<Partition>(
        _ topics: [KafkaTopic<Partition>], _ partition: (inout ByteBuffer, Partition) -> Void
    ) {
        writeKafkaArray(topics) { buffer, topic in
            buffer.writeKafka(topic.name)
            buffer.writeKafkaArray(topic.partitions, partition)
        }
    }
}
