import KafkaProtocol
import LogStore

extension RequestHandler {
    /// Creates each topic: its partitions as logs of the data directory
    /// (`TopicRegistry`), its configs as their settings (`logd config`). One
    /// replica on this node: other placements are refused with a message
    /// saying so (docs/KAFKA.md).
    func createTopics(_ request: CreateTopicsRequest) -> CreateTopicsResponse {
        var named: Set<String> = []
        return CreateTopicsResponse(
            topics: request.topics.map { topic in
                func failed(_ code: ErrorCode, _ message: String) -> CreateTopicsResponse.Topic {
                    CreateTopicsResponse.Topic(name: topic.name, errorCode: code, errorMessage: message)
                }
                guard named.insert(topic.name).inserted else {
                    return failed(.invalidRequest, "topic \(topic.name) is named more than once in the request")
                }
                if let problem = TopicRegistry.creationProblem(topic.name) { return failed(.invalidTopic, problem) }
                guard !topics.exists(topic.name) else {
                    return failed(.topicAlreadyExists, "topic \(topic.name) already exists")
                }
                let partitions: Int32
                switch placement(topic) {
                case .success(let count): partitions = count
                case .failure(let refusal): return failed(refusal.code, refusal.message)
                }
                let config: LogConfig
                do {
                    config = try Self.logConfig(topic.configs)
                } catch let error as LogStoreError {
                    return failed(.invalidConfig, error.message)
                } catch {
                    return failed(.invalidConfig, "\(error)")
                }
                if request.validateOnly { return CreateTopicsResponse.Topic(name: topic.name) }
                do {
                    try topics.create(topic.name, partitions: partitions, config: config)
                } catch let refusal as TopicRegistry.Refusal {
                    return failed(refusal.code, refusal.message)
                } catch {
                    logger.error("kafka.create_topic_failed", metadata: ["kafka.topic": "\(topic.name)", "error": "\(error)"])
                    return failed(.unknownServerError, "creating the logs of topic \(topic.name) failed: \(error)")
                }
                logger.info(
                    "kafka.topic_created", metadata: ["kafka.topic": "\(topic.name)", "kafka.partitions": "\(partitions)"])
                return CreateTopicsResponse.Topic(name: topic.name)
            })
    }

    /// Adds partitions to each topic (they can only grow), each with the
    /// topic's settings.
    func createPartitions(_ request: CreatePartitionsRequest) -> CreatePartitionsResponse {
        var named: Set<String> = []
        let node = KafkaServerConfiguration.nodeID
        return CreatePartitionsResponse(
            topics: request.topics.map { topic in
                func failed(_ code: ErrorCode, _ message: String) -> CreatePartitionsResponse.Topic {
                    .init(name: topic.name, errorCode: code, errorMessage: message)
                }
                guard named.insert(topic.name).inserted else {
                    return failed(.invalidRequest, "topic \(topic.name) is named more than once in the request")
                }
                let current = topics.partitionCount(topic.name)
                guard current > 0 else { return failed(.unknownTopicOrPartition, "no topic \(topic.name)") }
                if let assignments = topic.assignments {
                    guard assignments.count == Int(topic.count) - Int(current), assignments.allSatisfy({ $0 == [node] }) else {
                        return failed(
                            .invalidReplicaAssignment,
                            "logd is a single server: each new partition is assigned to this node (\(node)) alone")
                    }
                }
                guard topic.count > current else {
                    return failed(
                        .invalidPartitions,
                        "topic \(topic.name) has \(current) partitions; it can only grow, not to \(topic.count)")
                }
                if let problem = TopicRegistry.partitionCountProblem(topic.count) { return failed(.invalidPartitions, problem) }
                if request.validateOnly { return .init(name: topic.name) }
                do {
                    try topics.addPartitions(topic.name, upTo: topic.count)
                } catch let refusal as TopicRegistry.Refusal {
                    return failed(refusal.code, refusal.message)
                } catch {
                    logger.error(
                        "kafka.create_partitions_failed", metadata: ["kafka.topic": "\(topic.name)", "error": "\(error)"])
                    return failed(.unknownServerError, "adding partitions to topic \(topic.name) failed: \(error)")
                }
                logger.info(
                    "kafka.partitions_created", metadata: ["kafka.topic": "\(topic.name)", "kafka.partitions": "\(topic.count)"])
                return .init(name: topic.name)
            })
    }

    /// Deletes each topic's log, committed offsets included. A log another
    /// process writes (an ingester) is not deleted: UNKNOWN_SERVER_ERROR, with
    /// the reason in the server's log (the response has no message before v5).
    func deleteTopics(_ request: DeleteTopicsRequest) -> DeleteTopicsResponse {
        DeleteTopicsResponse(
            topics: request.topics.map { name in
                guard topics.exists(name) else {
                    return (name, .unknownTopicOrPartition)
                }
                do {
                    try topics.delete(name)
                } catch {
                    logger.error("kafka.delete_topic_failed", metadata: ["kafka.topic": "\(name)", "error": "\(error)"])
                    return (name, .unknownServerError)
                }
                producerStates.forget(topic: name)
                logger.info("kafka.topic_deleted", metadata: ["kafka.topic": "\(name)"])
                return (name, .none)
            })
    }

    /// A topic's configs: every setting a log keeps (`LogConfig.keys`), set
    /// (DYNAMIC_TOPIC_CONFIG) or default (DEFAULT_CONFIG). A broker has none
    /// to show: an empty list.
    func describeConfigs(_ request: DescribeConfigsRequest) -> DescribeConfigsResponse {
        DescribeConfigsResponse(
            results: request.resources.map { resource in
                func failed(_ code: ErrorCode, _ message: String) -> DescribeConfigsResponse.Result {
                    .init(errorCode: code, errorMessage: message, type: resource.type, name: resource.name, configs: [])
                }
                switch resource.type {
                case ConfigResourceType.broker:
                    return .init(type: resource.type, name: resource.name, configs: [])
                case ConfigResourceType.topic:
                    guard topics.exists(resource.name)
                    else { return failed(.unknownTopicOrPartition, "no topic \(resource.name)") }
                    let config: LogConfig
                    do {
                        config = try LogConfig.load(logDirectory: topics.path(resource.name))
                    } catch {
                        return failed(.unknownServerError, "reading the settings of \(resource.name) failed: \(error)")
                    }
                    let keys = LogConfig.keys.filter { resource.keys?.contains($0) ?? true }
                    return .init(
                        type: resource.type, name: resource.name,
                        configs: keys.map { key in
                            let value = config.value(for: key)
                            return .init(
                                name: key, value: value ?? LogConfig.defaultValue(for: key),
                                source: value == nil ? ConfigSource.defaultConfig : ConfigSource.dynamicTopic)
                        })
                default:
                    return failed(
                        .invalidRequest, "logd describes the configs of topics (2) and brokers (4), not of type \(resource.type)")
                }
            })
    }

    /// Replaces a topic's configs as Kafka's AlterConfigs does: the keys given,
    /// every other one back to its default. Saved in the `config` of each partition's log; the
    /// server's open logs take them when it is next opened (a restart), as
    /// with `logd config`.
    func alterConfigs(_ request: AlterConfigsRequest) -> AlterConfigsResponse {
        AlterConfigsResponse(
            results: request.resources.map { resource in
                func failed(_ code: ErrorCode, _ message: String) -> AlterConfigsResponse.Result {
                    .init(errorCode: code, errorMessage: message, type: resource.type, name: resource.name)
                }
                guard resource.type == ConfigResourceType.topic else {
                    return failed(.invalidRequest, "logd alters the configs of topics (resource type 2) only")
                }
                guard topics.exists(resource.name)
                else { return failed(.unknownTopicOrPartition, "no topic \(resource.name)") }
                let config: LogConfig
                do {
                    config = try Self.logConfig(resource.configs)
                } catch let error as LogStoreError {
                    return failed(.invalidConfig, error.message)
                } catch {
                    return failed(.invalidConfig, "\(error)")
                }
                if request.validateOnly { return .init(type: resource.type, name: resource.name) }
                do {
                    try topics.saveConfig(config, of: resource.name)
                } catch {
                    logger.error(
                        "kafka.alter_configs_failed", metadata: ["kafka.topic": "\(resource.name)", "error": "\(error)"])
                    return failed(.unknownServerError, "saving the settings of \(resource.name) failed: \(error)")
                }
                logger.info("kafka.configs_altered", metadata: ["kafka.topic": "\(resource.name)"])
                return .init(type: resource.type, name: resource.name)
            })
    }

    /// How many partitions a new topic gets, or why its placement cannot be
    /// served: partitions on this node alone, one replica each, as `-1` (the
    /// server's default count and one replica, v4+), counts, or a manual
    /// assignment of partitions 0..<n to this node.
    private func placement(_ topic: CreateTopicsRequest.Topic) -> Result<Int32, TopicRegistry.Refusal> {
        let node = KafkaServerConfiguration.nodeID
        if !topic.assignments.isEmpty {
            let partitions = Set(topic.assignments.map(\.partition))
            guard partitions == Set(0..<Int32(topic.assignments.count)), topic.assignments.allSatisfy({ $0.brokers == [node] })
            else {
                return .failure(
                    .init(
                        .invalidReplicaAssignment,
                        "logd is a single server: an assignment names partitions 0..<n, each on this node (\(node)) alone"))
            }
            if let problem = TopicRegistry.partitionCountProblem(Int32(topic.assignments.count)) {
                return .failure(.init(.invalidPartitions, problem))
            }
            return .success(Int32(topic.assignments.count))
        }
        let count = topic.partitionCount == -1 ? topics.defaultPartitions : topic.partitionCount
        if let problem = TopicRegistry.partitionCountProblem(count) { return .failure(.init(.invalidPartitions, problem)) }
        guard topic.replicationFactor == -1 || (1...topics.maxReplicationFactor).contains(topic.replicationFactor) else {
            let allowed = topics.maxReplicationFactor > 1 ? "1 to \(topics.maxReplicationFactor) (--max-replication-factor)" : "1"
            return .failure(
                .init(
                    .invalidReplicationFactor,
                    "logd is a single server: replication factor \(allowed); \(topic.replicationFactor) was asked for"))
        }
        return .success(count)
    }

    /// A topic's configs as a log's settings. A null value keeps the default;
    /// `compression.type=producer` (Kafka's default) is what logd does with
    /// produced batches anyway, `uncompressed` is `none`. `message.format.version`
    /// is checked and ignored, as Kafka 3.0 and later ignore it: batches are v2.
    /// - Throws: `LogStoreError` `.invalidArgument` naming an unknown key or a bad value.
    static func logConfig(_ configs: [(name: String, value: String?)]) throws -> LogConfig {
        var config = LogConfig()
        for (name, value) in configs {
            guard let value else { continue }
            switch (name, value) {
            case ("compression.type", "producer"): continue
            case ("compression.type", "uncompressed"): try config.set(name, to: LogConfig.CompressionType.none.rawValue)
            case ("message.format.version", _):
                // Kafka's versions: 0.8.0 ... 3.0-IV1.
                guard value.first?.isNumber == true, value.allSatisfy({ $0.isNumber || ".-IV".contains($0) }) else {
                    throw LogStoreError(
                        .invalidArgument, "message.format.version wants a Kafka version such as 3.0, got '\(value)'")
                }
            default: try config.set(name, to: value)
            }
        }
        return config
    }
}
