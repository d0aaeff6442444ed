import NIOCore

/// Request header v1 (every non-flexible request): api key, api version,
/// correlation id, client id. Request header v0 (no client id) belongs only to
/// ControlledShutdown v0, which is not served.
public struct RequestHeader: Sendable, Equatable {
    /// The raw key: it may name an API this server does not implement.
    public var apiKey: Int16
    public var apiVersion: Int16
    public var correlationID: Int32
    public var clientID: String?

    public init(apiKey: Int16, apiVersion: Int16, correlationID: Int32, clientID: String?) {
        self.apiKey = apiKey
        self.apiVersion = apiVersion
        self.correlationID = correlationID
        self.clientID = clientID
    }

    /// Reads the header at the start of a frame (the frame's length prefix already taken off).
    public static func decode(_ reader: inout KafkaReader) throws(KafkaDecodingError) -> RequestHeader {
        RequestHeader(
            apiKey: try reader.int16(), apiVersion: try reader.int16(), correlationID: try reader.int32(),
            clientID: try reader.nullableString())
    }

    /// The bytes a client sends for this header (for tests and tools).
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeKafka(apiKey)
        buffer.writeKafka(apiVersion)
        buffer.writeKafka(correlationID)
        buffer.writeKafka(clientID)
    }
}
