import Foundation
import KafkaProtocol
import LogStore
import Logging
import NIOCore
import NIOPosix
import SystemPackage

/// `logd serve`: the Kafka wire protocol over the logs of a data directory.
/// Each log is a topic with one partition, 0 (docs/KAFKA.md).
public final class KafkaServer: Sendable {
    public let configuration: KafkaServerConfiguration
    private let topics: TopicRegistry
    private let logger: Logger

    public init(configuration: KafkaServerConfiguration, logger: Logger = Logger(label: "logd.serve")) {
        self.configuration = configuration
        self.logger = logger
        topics = TopicRegistry(
            directory: configuration.dataDirectory, defaultPartitions: configuration.defaultPartitions,
            maxReplicationFactor: configuration.maxReplicationFactor, logger: logger)
    }

    /// Listens and serves until the task is cancelled, then stops accepting,
    /// lets the requests in flight end, syncs and closes the logs.
    /// - Parameter onBound: called with the port bound (useful with port 0).
    public func run(onBound: @Sendable (Int) -> Void = { _ in }) async throws {
        try Log.createDirectory(configuration.dataDirectory)
        // Topics whose deletion a crash interrupted (DeleteTopics).
        let finished = try Log.removeDeletedLogs(in: configuration.dataDirectory)
        if finished > 0 { logger.notice("kafka.deletions_finished", metadata: ["kafka.topics": "\(finished)"]) }
        let clusterID = try ClusterID.load(dataDirectory: configuration.dataDirectory)
        let maxFrameBytes = configuration.maxRequestBytes
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrameBytes)))
                    try child.pipeline.syncOperations.addHandler(ResponseWriter())
                    return try NIOAsyncChannel<ByteBuffer, ResponseFrame>(wrappingChannelSynchronously: child)
                }
            }
        let port = server.channel.localAddress?.port ?? configuration.port
        let coordinator = GroupCoordinator(logger: logger, initialRebalanceDelay: configuration.groupInitialRebalanceDelay)
        await coordinator.start()
        let producerIDs = ProducerIDs(directory: configuration.dataDirectory)
        let producerStates = ProducerStates(logger: logger)
        let transactions = TransactionCoordinator(
            directory: configuration.dataDirectory, topics: topics, producerStates: producerStates, producerIDs: producerIDs,
            logger: logger)
        producerStates.connect(transactions)
        // What a crash left of transactions is finished before the first request.
        try await NIOThreadPool.singleton.runIfActive { try transactions.recover() }
        let handler = RequestHandler(
            topics: topics, advertisedHost: configuration.advertisedHost ?? configuration.host,
            advertisedPort: Int32(configuration.advertisedPort ?? port), clusterID: clusterID,
            autoCreateTopics: configuration.autoCreateTopics, coordinator: coordinator,
            producerIDs: producerIDs, producerStates: producerStates, transactions: transactions, logger: logger)
        logger.info(
            "kafka.listening", metadata: ["kafka.address": "\(configuration.host):\(port)", "kafka.cluster_id": "\(clusterID)"])
        onBound(port)
        defer { topics.closeAll() }
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // Transactions open past their timeout are aborted (transaction.timeout.ms).
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        _ = try? await NIOThreadPool.singleton.runIfActive { transactions.abortExpired() }
                    }
                }
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { await Self.serve(connection, handler: handler, logger: self.logger) }
                    }
                }
            }
        } onCancel: {
            // Joins and syncs waiting for other members are answered, so their connections end.
            Task { await coordinator.stop() }
        }
    }

    /// Reads frames and answers them one at a time, in order. A frame that is
    /// not a request of a served API and version closes the connection with
    /// one log line naming the peer; the server and other connections go on.
    private static func serve(_ connection: NIOAsyncChannel<ByteBuffer, ResponseFrame>, handler: RequestHandler, logger: Logger)
        async
    {
        let peer = connection.channel.remoteAddress.map { "\($0)" } ?? "unknown peer"
        let clientHost = connection.channel.remoteAddress?.ipAddress ?? ""
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await frame in inbound {
                    if let response = try await answer(frame, handler: handler, clientHost: clientHost) {
                        try await outbound.write(response)
                    }
                }
            }
        } catch is CancellationError {
            return
        } catch let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed {
            // The client went away while an answer was due (a producer with acks=0 that exits at once).
            logger.debug("kafka.peer_closed", metadata: ["kafka.peer": "\(peer)"])
        } catch let error as IOError where error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
            logger.debug("kafka.peer_closed", metadata: ["kafka.peer": "\(peer)"])
        } catch {
            logger.warning("kafka.connection_closed", metadata: ["kafka.peer": "\(peer)", "reason": "\(error)"])
        }
    }

    static func answer(_ frame: ByteBuffer, handler: RequestHandler, clientHost: String) async throws -> ResponseFrame? {
        do {
            return try await handler.respond(to: try KafkaRequest.decode(frame: frame), clientHost: clientHost)
        } catch let error as KafkaDecodingError where error.code == .unsupportedVersion {
            // An ApiVersions above the served ones gets error 35 in the v0 layout (KAFKA.md trap 1).
            let header = try KafkaRequest.decodeHeader(frame: frame)
            guard header.apiKey == APIKey.apiVersions.rawValue else { throw error }
            var out = ByteBuffer()
            KafkaResponseFrame.write(correlationID: header.correlationID, into: &out) {
                ApiVersionsResponse(errorCode: .unsupportedVersion).encode(into: &$0, version: 0)
            }
            return ResponseFrame(parts: [.byteBuffer(out)])
        }
    }
}

/// The cluster id, kept in the data directory (`cluster-id`, written as every
/// metadata file is: temp file, fsync, rename) so that it stays the same across restarts.
enum ClusterID {
    static let fileName = "cluster-id"

    static func load(dataDirectory: FilePath) throws -> String {
        if let bytes = try LogMetadataFile.read(named: fileName, in: dataDirectory) {
            let id = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        // 22 characters of URL-safe base64, as Kafka's cluster ids.
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let id = String(
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .prefix(22))
        try LogMetadataFile.write(Array((id + "\n").utf8), named: fileName, in: dataDirectory)
        return id
    }
}
