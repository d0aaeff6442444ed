import NIOCore

/// AlterConfigs (key 33) request, v0-1: replaces the whole config set of each resource.
public struct AlterConfigsRequest: Sendable, Equatable {
    public struct Resource: Sendable, Equatable {
        public var type: Int8
        public var name: String
        public var configs: [(name: String, value: String?)]
        public init(type: Int8, name: String, configs: [(name: String, value: String?)]) {
            self.type = type
            self.name = name
            self.configs = configs
        }

        public static func == (left: Resource, right: Resource) -> Bool {
            left.type == right.type && left.name == right.name && left.configs.map(\.name) == right.configs.map(\.name)
                && left.configs.map(\.value) == right.configs.map(\.value)
        }
    }

    public var resources: [Resource]
    public var validateOnly: Bool

    public init(resources: [Resource], validateOnly: Bool = false) {
        self.resources = resources
        self.validateOnly = validateOnly
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        let resources = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let type = try reader.int8()
            let name = try reader.string()
            let configs = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in
                (name: try reader.string(), value: try reader.nullableString())
            }
            return Resource(type: type, name: name, configs: configs)
        }
        return AlterConfigsRequest(resources: resources, validateOnly: try reader.bool())
    }

    /// The request body as a client writes it (for tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafkaArray(resources) { buffer, resource in
            buffer.writeKafka(resource.type)
            buffer.writeKafka(resource.name)
            buffer.writeKafkaArray(resource.configs) { buffer, config in
                buffer.writeKafka(config.name)
                buffer.writeKafka(config.value)
            }
        }
        buffer.writeKafka(Int8(validateOnly ? 1 : 0))
    }
}

/// AlterConfigs response: per resource an error code and message.
public struct AlterConfigsResponse: Sendable, Equatable {
    public typealias Result = ConfigResourceStatus

    public var results: [Result]

    public init(results: [Result]) {
        self.results = results
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(0))  // throttle_time_ms
        buffer.writeKafkaArray(results) { buffer, result in result.write(into: &buffer) }
    }
}
