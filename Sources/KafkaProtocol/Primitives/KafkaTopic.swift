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
