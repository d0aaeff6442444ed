import KafkaProtocol
import LogStore
import NIOPosix

extension RequestHandler {
    /// InitProducerId: an idempotent producer gets a new id; a transactional
    /// one its id's producer with the epoch bumped (`TransactionCoordinator`).
    func initProducerId(_ request: InitProducerIdRequest) async throws -> InitProducerIdResponse {
        try await NIOThreadPool.singleton.runIfActive {
            do {
                guard let transactionalID = request.transactionalID else {
                    return InitProducerIdResponse(producerID: try producerIDs.next(), producerEpoch: 0)
                }
                let (producerID, epoch) = try transactions.initProducer(
                    transactionalID, timeoutMilliseconds: request.transactionTimeoutMilliseconds)
                return InitProducerIdResponse(producerID: producerID, producerEpoch: epoch)
            } catch let refusal as TransactionCoordinator.Refusal {
                return InitProducerIdResponse(errorCode: refusal.code, producerID: -1, producerEpoch: -1)
            } catch {
                logger.error("kafka.producer_id_failed", metadata: ["error": "\(error)"])
                return InitProducerIdResponse(errorCode: .kafkaStorageError, producerID: -1, producerEpoch: -1)
            }
        }
    }

    func addPartitionsToTxn(_ request: AddPartitionsToTxnRequest) async throws -> AddPartitionsToTxnResponse {
        let asked = request.topics.flatMap { topic in topic.partitions.map { TopicPartition(topic: topic.name, partition: $0) } }
        let results = try await NIOThreadPool.singleton.runIfActive {
            transactions.addPartitions(
                request.transactionalID, producerID: request.producerID, epoch: request.producerEpoch, partitions: asked)
        }
        return AddPartitionsToTxnResponse(
            topics: request.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { index in
                        .init(
                            index: index,
                            errorCode: results[TopicPartition(topic: topic.name, partition: index)] ?? .unknownServerError)
                    })
            })
    }

    func addOffsetsToTxn(_ request: AddOffsetsToTxnRequest) async throws -> AddOffsetsToTxnResponse {
        guard (try? LogNames.validate(request.groupID, what: "consumer group", maxBytes: LogNames.maxGroupBytes)) != nil else {
            return AddOffsetsToTxnResponse(errorCode: .invalidGroupID)
        }
        let code = try await NIOThreadPool.singleton.runIfActive {
            transactions.addOffsets(
                request.transactionalID, producerID: request.producerID, epoch: request.producerEpoch, group: request.groupID)
        }
        return AddOffsetsToTxnResponse(errorCode: code)
    }

    func txnOffsetCommit(_ request: TxnOffsetCommitRequest) async throws -> TxnOffsetCommitResponse {
        func all(_ code: (TxnOffsetCommitRequest.Partition, String) -> ErrorCode) -> TxnOffsetCommitResponse {
            TxnOffsetCommitResponse(
                topics: request.topics.map { topic in
                    .init(
                        name: topic.name,
                        partitions: topic.partitions.map { .init(index: $0.index, errorCode: code($0, topic.name)) })
                })
        }
        // Checked as an OffsetCommit is, before anything is kept.
        var problems: [TopicPartition: ErrorCode] = [:]
        for topic in request.topics {
            for partition in topic.partitions {
                let key = TopicPartition(topic: topic.name, partition: partition.index)
                let target = try? commitTarget(topic: topic.name, partition: partition.index, metadata: partition.metadata)
                if target?.log == nil {
                    problems[key] = target?.problem ?? .kafkaStorageError
                } else if partition.committedOffset < 0 {
                    problems[key] = .offsetOutOfRange
                }
            }
        }
        if !problems.isEmpty {
            return all { partition, topic in problems[TopicPartition(topic: topic, partition: partition.index)] ?? .none }
        }
        let offsets = request.topics.flatMap { topic in
            topic.partitions.map {
                TransactionCoordinator.PendingOffset(
                    group: request.groupID, topic: topic.name, partition: $0.index, offset: $0.committedOffset,
                    metadata: $0.metadata)
            }
        }
        let code = try await NIOThreadPool.singleton.runIfActive {
            transactions.commitOffsets(
                request.transactionalID, producerID: request.producerID, epoch: request.producerEpoch, group: request.groupID,
                offsets: offsets)
        }
        return all { _, _ in code }
    }

    func endTxn(_ request: EndTxnRequest) async throws -> EndTxnResponse {
        let code = try await NIOThreadPool.singleton.runIfActive {
            transactions.endTransaction(
                request.transactionalID, producerID: request.producerID, epoch: request.producerEpoch,
                commit: request.committed)
        }
        return EndTxnResponse(errorCode: code)
    }
}
