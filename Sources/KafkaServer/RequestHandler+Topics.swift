import KafkaProtocol
import LogStore

extension RequestHandler {
    /// Creates each topic as a log of the data directory, with the topic's
    /// configs as the log's settings (`logd config`). One partition, one
    /// replica: other counts are refused with a message saying so
    /// (docs/KAFKA.md).
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
                if let refusal = Self.placementRefusal(topic) { return failed(refusal.0, refusal.1) }
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
                    // The settings first: the log opens with them. A directory without segments is no
                    // topic yet (TopicRegistry.names), so a crash in between leaves nothing to clean up.
                    let path = topics.directory.appending(topic.name)
                    try Log.createDirectory(path)
                    if config != LogConfig() { try config.save(logDirectory: path) }
                    _ = try topics.log(topic.name, create: true)
                } catch {
                    logger.error("kafka.create_topic_failed", metadata: ["kafka.topic": "\(topic.name)", "error": "\(error)"])
                    return failed(.unknownServerError, "creating the log of topic \(topic.name) failed: \(error)")
                }
                logger.info("kafka.topic_created", metadata: ["kafka.topic": "\(topic.name)"])
                return CreateTopicsResponse.Topic(name: topic.name)
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
                        config = try LogConfig.load(logDirectory: topics.directory.appending(resource.name))
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
    /// every other one back to its default. Saved in the log's `config`; the
    /// server's open log takes them when it is next opened (a restart), as
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
                    try config.save(logDirectory: topics.directory.appending(resource.name))
                } catch {
                    logger.error(
                        "kafka.alter_configs_failed", metadata: ["kafka.topic": "\(resource.name)", "error": "\(error)"])
                    return failed(.unknownServerError, "saving the settings of \(resource.name) failed: \(error)")
                }
                logger.info("kafka.configs_altered", metadata: ["kafka.topic": "\(resource.name)"])
                return .init(type: resource.type, name: resource.name)
            })
    }

    /// Why a topic's partitions or replicas cannot be served, nil when they can:
    /// partition 0 on this node, as `-1` (the default, v4+), 1, or a manual
    /// assignment of exactly that.
    private static func placementRefusal(_ topic: CreateTopicsRequest.Topic) -> (ErrorCode, String)? {
        let node = KafkaServerConfiguration.nodeID
        if !topic.assignments.isEmpty {
            guard topic.assignments.count == 1, topic.assignments[0].partition == 0, topic.assignments[0].brokers == [node]
            else {
                return (
                    .invalidReplicaAssignment,
                    "logd serves one partition per topic, partition 0, on this node (\(node)) alone; the assignment asks otherwise"
                )
            }
            return nil
        }
        guard topic.partitionCount == -1 || topic.partitionCount == 1 else {
            return (
                .invalidPartitions,
                "logd serves one partition per topic (partition 0); \(topic.partitionCount) partitions were asked for"
            )
        }
        guard topic.replicationFactor == -1 || topic.replicationFactor == 1 else {
            return (
                .invalidReplicationFactor,
                "logd is a single server: replication factor 1; \(topic.replicationFactor) was asked for"
            )
        }
        return nil
    }

    /// A topic's configs as a log's settings. A null value keeps the default;
    /// `compression.type=producer` (Kafka's default) is what logd does with
    /// produced batches anyway, `uncompressed` is `none`.
    /// - Throws: `LogStoreError` `.invalidArgument` naming an unknown key or a bad value.
    static func logConfig(_ configs: [(name: String, value: String?)]) throws -> LogConfig {
        var config = LogConfig()
        for (name, value) in configs {
            guard let value else { continue }
            switch (name, value) {
            case ("compression.type", "producer"): continue
            case ("compression.type", "uncompressed"): try config.set(name, to: LogConfig.CompressionType.none.rawValue)
            default: try config.set(name, to: value)
            }
        }
        return config
    }
}
