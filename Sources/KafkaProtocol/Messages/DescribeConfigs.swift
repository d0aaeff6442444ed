import NIOCore

/// The kinds of resource DescribeConfigs and AlterConfigs name.
public enum ConfigResourceType {
    public static let topic: Int8 = 2
    public static let broker: Int8 = 4
}

/// Where a config's value comes from (DescribeConfigs v1+, `config_source`).
public enum ConfigSource {
    public static let dynamicTopic: Int8 = 1
    public static let defaultConfig: Int8 = 5
}

/// DescribeConfigs (key 32) request, v0-2: the configs of topics (or brokers).
public struct DescribeConfigsRequest: Sendable, Equatable {
    public struct Resource: Sendable, Equatable {
        public var type: Int8
        public var name: String
        /// Nil: every config.
        public var keys: [String]?
        public init(type: Int8, name: String, keys: [String]? = nil) {
            self.type = type
            self.name = name
            self.keys = keys
        }
    }

    public var resources: [Resource]
    public var includeSynonyms: Bool

    public init(resources: [Resource], includeSynonyms: Bool = false) {
        self.resources = resources
        self.includeSynonyms = includeSynonyms
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let resources = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            Resource(
                type: try reader.int8(), name: try reader.string(),
                keys: try reader.nullableArray { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.string() })
        }
        let synonyms = version >= 1 ? try reader.bool() : false
        return DescribeConfigsRequest(resources: resources, includeSynonyms: synonyms)
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(resources) { buffer, resource in
            buffer.writeKafka(resource.type)
            buffer.writeKafka(resource.name)
            buffer.writeKafkaArray(resource.keys) { $0.writeKafka($1) }
        }
        if version >= 1 { buffer.writeKafka(Int8(includeSynonyms ? 1 : 0)) }
    }
}

/// DescribeConfigs response: per resource an error or its configs.
public struct DescribeConfigsResponse: Sendable, Equatable {
    public struct Config: Sendable, Equatable {
        public var name: String
        public var value: String?
        public var readOnly: Bool
        public var source: Int8
        public init(name: String, value: String?, readOnly: Bool = false, source: Int8) {
            self.name = name
            self.value = value
            self.readOnly = readOnly
            self.source = source
        }
    }

    public struct Result: Sendable, Equatable {
        public var status: ConfigResourceStatus
        public var configs: [Config]
        public init(errorCode: ErrorCode = .none, errorMessage: String? = nil, type: Int8, name: String, configs: [Config]) {
            status = ConfigResourceStatus(errorCode: errorCode, errorMessage: errorMessage, type: type, name: name)
            self.configs = configs
        }
    }

    public var results: [Result]

    public init(results: [Result]) {
        self.results = results
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms
        buffer.writeKafkaArray(results) { buffer, result in
            result.status.write(into: &buffer)
            buffer.writeKafkaArray(result.configs) { buffer, config in
                buffer.writeKafka(config.name)
                buffer.writeKafka(config.value)
                buffer.writeKafka(Int8(config.readOnly ? 1 : 0))
                if version == 0 {
                    buffer.writeKafka(Int8(config.source == ConfigSource.defaultConfig ? 1 : 0))  // is_default
                } else {
                    buffer.writeKafka(config.source)
                }
                buffer.writeKafka(Int8(0))  // is_sensitive
                if version >= 1 { buffer.writeKafka(Int32(0)) }  // synonyms: none
            }
        }
    }
}

/// What each resource's result in a DescribeConfigs or AlterConfigs response
/// starts with: its error and which resource it is.
public struct ConfigResourceStatus: Sendable, Equatable {
    public var errorCode: ErrorCode
    public var errorMessage: String?
    public var type: Int8
    public var name: String

    public init(errorCode: ErrorCode = .none, errorMessage: String? = nil, type: Int8, name: String) {
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.type = type
        self.name = name
    }

    func write(into buffer: inout ByteBuffer) {
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafka(errorMessage)
        buffer.writeKafka(type)
        buffer.writeKafka(name)
    }
}
