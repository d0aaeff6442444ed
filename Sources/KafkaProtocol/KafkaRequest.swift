import NIOCore

/// A decoded request: its header and its body, one case per API this server implements.
public struct KafkaRequest: Sendable {
    public enum Body: Sendable {
        case apiVersions(ApiVersionsRequest)
        case metadata(MetadataRequest)
        case produce(ProduceRequest)
        case fetch(FetchRequest)
        case listOffsets(ListOffsetsRequest)
        case findCoordinator(FindCoordinatorRequest)
        case offsetCommit(OffsetCommitRequest)
        case offsetFetch(OffsetFetchRequest)
        case initProducerId(InitProducerIdRequest)
        case addPartitionsToTxn(AddPartitionsToTxnRequest)
        case addOffsetsToTxn(AddOffsetsToTxnRequest)
        case endTxn(EndTxnRequest)
        case txnOffsetCommit(TxnOffsetCommitRequest)
        case joinGroup(JoinGroupRequest)
        case syncGroup(SyncGroupRequest)
        case heartbeat(HeartbeatRequest)
        case leaveGroup(LeaveGroupRequest)
        case listGroups(ListGroupsRequest)
        case describeGroups(DescribeGroupsRequest)
        case createTopics(CreateTopicsRequest)
        case deleteTopics(DeleteTopicsRequest)
        case describeConfigs(DescribeConfigsRequest)
        case alterConfigs(AlterConfigsRequest)
        case createPartitions(CreatePartitionsRequest)
    }

    public var header: RequestHeader
    public var api: APIKey
    public var body: Body

    /// Decodes one frame (the bytes after its int32 length prefix).
    ///
    /// - Throws: `KafkaDecodingError` for bytes that are not a request of an
    ///   advertised API and version: `.unknownAPI` and `.unsupportedVersion`
    ///   carry no body decoding at all, so a client's newer version is never
    ///   misread as an older one. `decodeHeader` lets a server answer an
    ///   ApiVersions of an unsupported version before that.
    public static func decode(frame: ByteBuffer) throws(KafkaDecodingError) -> KafkaRequest {
        var reader = KafkaReader(frame)
        let header = try RequestHeader.decode(&reader)
        guard let api = APIKey(rawValue: header.apiKey) else {
            throw KafkaDecodingError(.unknownAPI, "API key \(header.apiKey) is not served")
        }
        guard api.supportedVersions.contains(header.apiVersion) else {
            throw KafkaDecodingError(
                .unsupportedVersion,
                "\(api) v\(header.apiVersion) is not served (versions \(api.supportedVersions.lowerBound)-\(api.supportedVersions.upperBound))"
            )
        }
        let version = header.apiVersion
        let body: Body
        switch api {
        case .apiVersions: body = .apiVersions(try ApiVersionsRequest.decode(&reader, version: version))
        case .metadata: body = .metadata(try MetadataRequest.decode(&reader, version: version))
        case .produce: body = .produce(try ProduceRequest.decode(&reader, version: version))
        case .fetch: body = .fetch(try FetchRequest.decode(&reader, version: version))
        case .listOffsets: body = .listOffsets(try ListOffsetsRequest.decode(&reader, version: version))
        case .findCoordinator: body = .findCoordinator(try FindCoordinatorRequest.decode(&reader, version: version))
        case .offsetCommit: body = .offsetCommit(try OffsetCommitRequest.decode(&reader, version: version))
        case .offsetFetch: body = .offsetFetch(try OffsetFetchRequest.decode(&reader, version: version))
        case .initProducerId: body = .initProducerId(try InitProducerIdRequest.decode(&reader, version: version))
        case .addPartitionsToTxn:
            body = .addPartitionsToTxn(try AddPartitionsToTxnRequest.decode(&reader, version: version))
        case .addOffsetsToTxn: body = .addOffsetsToTxn(try AddOffsetsToTxnRequest.decode(&reader, version: version))
        case .endTxn: body = .endTxn(try EndTxnRequest.decode(&reader, version: version))
        case .txnOffsetCommit: body = .txnOffsetCommit(try TxnOffsetCommitRequest.decode(&reader, version: version))
        case .joinGroup: body = .joinGroup(try JoinGroupRequest.decode(&reader, version: version))
        case .syncGroup: body = .syncGroup(try SyncGroupRequest.decode(&reader, version: version))
        case .heartbeat: body = .heartbeat(try HeartbeatRequest.decode(&reader, version: version))
        case .leaveGroup: body = .leaveGroup(try LeaveGroupRequest.decode(&reader, version: version))
        case .listGroups: body = .listGroups(try ListGroupsRequest.decode(&reader, version: version))
        case .describeGroups: body = .describeGroups(try DescribeGroupsRequest.decode(&reader, version: version))
        case .createTopics: body = .createTopics(try CreateTopicsRequest.decode(&reader, version: version))
        case .deleteTopics: body = .deleteTopics(try DeleteTopicsRequest.decode(&reader, version: version))
        case .describeConfigs: body = .describeConfigs(try DescribeConfigsRequest.decode(&reader, version: version))
        case .alterConfigs: body = .alterConfigs(try AlterConfigsRequest.decode(&reader, version: version))
        case .createPartitions: body = .createPartitions(try CreatePartitionsRequest.decode(&reader, version: version))
        }
        try reader.expectEnd("\(api) v\(version)")
        return KafkaRequest(header: header, api: api, body: body)
    }

    /// The header alone, for a frame whose body will not be decoded (an
    /// ApiVersions of a version above the ones served still gets an answer).
    public static func decodeHeader(frame: ByteBuffer) throws(KafkaDecodingError) -> RequestHeader {
        var reader = KafkaReader(frame)
        return try RequestHeader.decode(&reader)
    }
}

/// Response framing: an int32 size, response header v0 (the correlation id), then the body.
public enum KafkaResponseFrame {
    /// Writes the frame of a response whose body `encodeBody` writes.
    public static func write(
        correlationID: Int32, into buffer: inout ByteBuffer, _ encodeBody: (inout ByteBuffer) -> Void
    ) {
        let start = buffer.writerIndex
        buffer.writeKafka(Int32(0))  // size, set below
        buffer.writeKafka(correlationID)
        encodeBody(&buffer)
        buffer.setInteger(Int32(buffer.writerIndex - start - 4), at: start, endianness: .big)
    }

    /// The frame of a response whose body is `body`, in parts (written one
    /// after the other, as `FetchResponse.encodeParts` makes them): a prefix
    /// with the size and correlation id, then the parts themselves.
    public static func parts(correlationID: Int32, body: [IOData]) -> [IOData] {
        var prefix = ByteBuffer()
        prefix.writeKafka(Int32(truncatingIfNeeded: 4 + body.reduce(0) { $0 + $1.readableBytes }))
        prefix.writeKafka(correlationID)
        return [.byteBuffer(prefix)] + body
    }
}
