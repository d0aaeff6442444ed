import NIOCore

/// ApiVersions (key 18) request, v0-2: no fields.
public struct ApiVersionsRequest: Sendable, Equatable {
    public init() {}

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        ApiVersionsRequest()
    }
}

/// ApiVersions response: an error code, the (key, min, max) of every API, and
/// from v1 the throttle time.
public struct ApiVersionsResponse: Sendable, Equatable {
    public var errorCode: ErrorCode
    public var apiKeys: [(key: Int16, minVersion: Int16, maxVersion: Int16)]

    public init(errorCode: ErrorCode = .none, apiKeys: [(key: Int16, minVersion: Int16, maxVersion: Int16)] = Self.advertised) {
        self.errorCode = errorCode
        self.apiKeys = apiKeys
    }

    /// Every API of `APIKey` with its supported versions.
    public static var advertised: [(key: Int16, minVersion: Int16, maxVersion: Int16)] {
        APIKey.allCases.map { ($0.rawValue, $0.supportedVersions.lowerBound, $0.supportedVersions.upperBound) }
    }

    /// Encodes the body for `version`. An error answer to a version this
    /// server does not support goes out in the v0 layout whatever the
    /// request's version: that is the only layout a client can read before it
    /// knows which versions the broker speaks (KAFKA.md trap 1).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(errorCode.rawValue)
        buffer.writeKafkaArray(apiKeys) { buffer, api in
            buffer.writeKafka(api.key)
            buffer.writeKafka(api.minVersion)
            buffer.writeKafka(api.maxVersion)
        }
        if version >= 1 { buffer.writeKafka(Int32(0)) }  // throttle_time_ms
    }

    public static func == (left: Self, right: Self) -> Bool {
        left.errorCode == right.errorCode
            && left.apiKeys.elementsEqual(right.apiKeys) {
                $0.key == $1.key && $0.minVersion == $1.minVersion && $0.maxVersion == $1.maxVersion
            }
    }
}
