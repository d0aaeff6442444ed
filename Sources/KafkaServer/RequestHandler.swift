import KafkaProtocol
import LogStore
import Logging
import NIOCore
import NIOPosix

/// Answers decoded requests from the topics' logs. One per server; every
/// connection calls it one request at a time, so answers go out in request
/// order (KAFKA.md trap 3).
struct RequestHandler: Sendable {
    let topics: TopicRegistry
    let advertisedHost: String
    let advertisedPort: Int32
    let clusterID: String
    let autoCreateTopics: Bool
    let coordinator: GroupCoordinator
    let producerIDs: ProducerIDs
    let producerStates: ProducerStates
    let transactions: TransactionCoordinator
    let logger: Logger

    /// The response frame for `request` from `clientHost`, in parts to be
    /// written one after the other (a fetch's record batches are parts of
    /// their own, regions of the store files when they can be); nil when none
    /// is due (Produce with acks=0).
    func respond(to request: KafkaRequest, clientHost: String) async throws -> ResponseFrame? {
        let version = request.header.apiVersion
        var out = ByteBuffer()
        func frame(_ encode: (inout ByteBuffer) -> Void) -> ResponseFrame {
            KafkaResponseFrame.write(correlationID: request.header.correlationID, into: &out, encode)
            return ResponseFrame(parts: [.byteBuffer(out)])
        }
        switch request.body {
        case .apiVersions:
            return frame { ApiVersionsResponse().encode(into: &$0, version: version) }
        case .metadata(let metadata):
            let response = self.metadata(metadata)
            return frame { response.encode(into: &$0, version: version) }
        case .produce(let produce):
            let response = try await self.produce(produce)
            guard produce.acks != 0 else { return nil }  // acks=0: no response at all (KAFKA.md trap 2)
            return frame { response.encode(into: &$0, version: version) }
        case .fetch(let fetch):
            let (response, files) = try await self.fetch(fetch)
            return ResponseFrame(
                parts: KafkaResponseFrame.parts(
                    correlationID: request.header.correlationID, body: response.encodeParts(version: version)),
                files: files)
        case .listOffsets(let listOffsets):
            let response = self.listOffsets(listOffsets)
            return frame { response.encode(into: &$0, version: version) }
        case .findCoordinator:
            let response = FindCoordinatorResponse(
                nodeID: KafkaServerConfiguration.nodeID, host: advertisedHost, port: advertisedPort)
            return frame { response.encode(into: &$0, version: version) }
        case .offsetCommit(let offsetCommit):
            let response = await self.offsetCommit(offsetCommit)
            return frame { response.encode(into: &$0, version: version) }
        case .offsetFetch(let offsetFetch):
            let response = self.offsetFetch(offsetFetch)
            return frame { response.encode(into: &$0, version: version) }
        case .joinGroup(let join):
            let response = await coordinator.join(join, clientID: request.header.clientID ?? "", clientHost: clientHost)
            return frame { response.encode(into: &$0, version: version) }
        case .syncGroup(let sync):
            let response = await coordinator.sync(sync)
            return frame { response.encode(into: &$0, version: version) }
        case .heartbeat(let heartbeat):
            let response = HeartbeatResponse(errorCode: await coordinator.heartbeat(heartbeat))
            return frame { response.encode(into: &$0, version: version) }
        case .leaveGroup(let leave):
            let response = await coordinator.leave(leave)
            return frame { response.encode(into: &$0, version: version) }
        case .listGroups:
            let response = await listGroups()
            return frame { response.encode(into: &$0, version: version) }
        case .describeGroups(let describe):
            let response = await describeGroups(describe)
            return frame { response.encode(into: &$0, version: version) }
        case .createTopics(let createTopics):
            let response = try await NIOThreadPool.singleton.runIfActive { self.createTopics(createTopics) }
            return frame { response.encode(into: &$0, version: version) }
        case .deleteTopics(let deleteTopics):
            let response = try await NIOThreadPool.singleton.runIfActive { self.deleteTopics(deleteTopics) }
            return frame { response.encode(into: &$0, version: version) }
        case .describeConfigs(let describe):
            let response = try await NIOThreadPool.singleton.runIfActive { self.describeConfigs(describe) }
            return frame { response.encode(into: &$0, version: version) }
        case .alterConfigs(let alter):
            let response = try await NIOThreadPool.singleton.runIfActive { self.alterConfigs(alter) }
            return frame { response.encode(into: &$0, version: version) }
        case .createPartitions(let createPartitions):
            let response = try await NIOThreadPool.singleton.runIfActive { self.createPartitions(createPartitions) }
            return frame { response.encode(into: &$0, version: version) }
        case .initProducerId(let initProducerId):
            let response = try await self.initProducerId(initProducerId)
            return frame { response.encode(into: &$0, version: version) }
        case .addPartitionsToTxn(let add):
            let response = try await addPartitionsToTxn(add)
            return frame { response.encode(into: &$0, version: version) }
        case .addOffsetsToTxn(let add):
            let response = try await addOffsetsToTxn(add)
            return frame { response.encode(into: &$0, version: version) }
        case .txnOffsetCommit(let commit):
            let response = try await txnOffsetCommit(commit)
            return frame { response.encode(into: &$0, version: version) }
        case .endTxn(let end):
            let response = try await endTxn(end)
            return frame { response.encode(into: &$0, version: version) }
        }
    }

    func metadata(_ request: MetadataRequest) -> MetadataResponse {
        var invalid: Set<String> = []
        if autoCreateTopics, request.allowAutoTopicCreation, let asked = request.topics {
            for name in asked where (try? topics.log(name, create: true)) == nil { invalid.insert(name) }
        }
        let node = KafkaServerConfiguration.nodeID
        return MetadataResponse(
            brokers: [.init(nodeID: node, host: advertisedHost, port: advertisedPort)],
            clusterID: clusterID, controllerID: node,
            topics: (request.topics ?? topics.names()).map { name in
                let count = topics.partitionCount(name)
                guard count > 0 else {
                    return .init(
                        errorCode: invalid.contains(name) ? .invalidTopic : .unknownTopicOrPartition, name: name, partitions: [])
                }
                return .init(
                    name: name, partitions: (0..<count).map { .init(index: $0, leaderID: node, replicas: [node]) })
            })
    }

    func produce(_ request: ProduceRequest) async throws -> ProduceResponse {
        let append: @Sendable () -> ([ProduceResponse.TopicResponse], [(Log, AppendReceipt?)]) = { [self] in
            var appended: [(Log, AppendReceipt?)] = []
            var topicsOut: [ProduceResponse.TopicResponse] = []
            for topic in request.topics {
                var partitions: [ProduceResponse.PartitionResponse] = []
                for partition in topic.partitions {
                    partitions.append(self.append(partition, to: topic.name, appended: &appended))
                }
                topicsOut.append(.init(name: topic.name, partitions: partitions))
            }
            return (topicsOut, appended)
        }
        let finish: @Sendable ([(Log, AppendReceipt?)]) throws -> Void = { appended in
            for (log, receipt) in appended {
                if request.acks != -1 {
                    // acks=0 and 1: written to the store file (the page cache) before the answer, as
                    // Kafka does, so a crash of this process alone loses nothing acknowledged.
                    try log.flush()
                } else if receipt == nil {
                    // A retried batch found on disk after a restart has no receipt: sync the log instead.
                    try log.sync()
                }
            }
        }
        let topicsOut: [ProduceResponse.TopicResponse]
        let appended: [(Log, AppendReceipt?)]
        if appendsHere(request) {
            // A small acks=all request to open logs: a copy into each log's write buffer, here, spares
            // two thread crossings (one producer: about 20% more requests a second); the answer waits
            // for the group commit's fdatasync all the same.
            (topicsOut, appended) = append()
            if appended.contains(where: { $0.1 == nil }) {
                try await NIOThreadPool.singleton.runIfActive { try finish(appended) }
            }
        } else {
            // Appending checks each batch's CRC, copies it, may open a log or rebuild a topic's producer
            // states from disk, and for acks 0 and 1 writes to the store file: blocking work, on NIO's
            // thread pool (as a fetch's reads), not on the cooperative threads every connection shares.
            (topicsOut, appended) = try await NIOThreadPool.singleton.runIfActive {
                let result = append()
                try finish(result.1)
                return result
            }
        }
        if request.acks == -1 {
            // acks=all: answer once durable; waiters share each fdatasync (group commit).
            for case (let log, let receipt?) in appended { try await log.waitUntilDurable(receipt) }
        }
        return ProduceResponse(topics: topicsOut)
    }

    /// The largest acks=all request `produce` appends without NIO's thread pool.
    static let appendHereBytes = 64 << 10

    /// Whether `request` is acks=all, of at most `appendHereBytes`, to logs
    /// open for writing whose producer states need no rebuild from disk: its
    /// appends only copy into write buffers (a full buffer's write aside).
    private func appendsHere(_ request: ProduceRequest) -> Bool {
        guard request.acks == -1 else { return false }
        var bytes = 0
        for topic in request.topics {
            for partition in topic.partitions {
                guard let records = partition.records,
                    let log = topics.openLog(topic.name, partition: partition.index), !log.isReadOnly
                else { return false }
                bytes += records.readableBytes
                guard bytes <= Self.appendHereBytes else { return false }
                let key = TopicPartition(topic: topic.name, partition: partition.index)
                if records.withUnsafeReadableBytes({ producerStates.mayRebuild(for: $0, in: key) }) { return false }
            }
        }
        return true
    }

    private func append(
        _ partition: ProduceRequest.PartitionData, to topic: String, appended: inout [(Log, AppendReceipt?)]
    ) -> ProduceResponse.PartitionResponse {
        func failed(_ code: ErrorCode, _ message: String) -> ProduceResponse.PartitionResponse {
            ProduceResponse.PartitionResponse(index: partition.index, errorCode: code, errorMessage: message)
        }
        do {
            guard let log = try topics.log(topic, partition: partition.index, create: autoCreateTopics) else {
                return failed(.unknownTopicOrPartition, "no topic \(topic) partition \(partition.index)")
            }
            guard var records = partition.records, records.readableBytes > 0 else {
                return failed(.corruptMessage, "no records")
            }
            let outcome = try records.readWithUnsafeReadableBytes { bytes in
                (
                    bytes.count,
                    try producerStates.append(bytes, to: log, of: TopicPartition(topic: topic, partition: partition.index))
                )
            }
            let offsets: Range<Int64>
            switch outcome {
            case .appended(let receipt):
                appended.append((log, receipt))
                offsets = receipt.offsets
            case .duplicate(let stored, let receipt):
                appended.append((log, receipt))
                offsets = stored
            }
            return .init(
                index: partition.index, errorCode: .none, baseOffset: offsets.lowerBound, logStartOffset: log.lowestOffset)
        } catch let refusal as TopicRegistry.Refusal {
            return failed(refusal.code, refusal.message)
        } catch let refusal as ProducerStates.Refusal {
            return failed(refusal.code, refusal.description)
        } catch let error as LogStoreError {
            switch error.code {
            case .invalidArgument: return failed(.corruptMessage, error.message)
            case .unsupportedCompression: return failed(.unsupportedCompressionType, error.message)
            case .tooLarge: return failed(.messageTooLarge, error.message)
            case .unavailable where (try? topics.log(topic, partition: partition.index))?.isReadOnly == true:
                return failed(.kafkaStorageError, "topic \(topic) is written by another process (read-only here)")
            default:
                logger.error("kafka.produce_failed", metadata: ["kafka.topic": "\(topic)", "error": "\(error)"])
                return failed(.kafkaStorageError, error.message)
            }
        } catch {
            return failed(.unknownServerError, "\(error)")
        }
    }
}
