import KafkaProtocol
import LogStore
import NIOCore
import NIOPosix

/// A partition a fetch waits on: its log and the offset it waits for.
struct LogWaiter: Sendable {
    var log: Log
    var offset: Int64
}

extension RequestHandler {
    /// Answers a fetch with whole stored batches; when fewer than `minBytes`
    /// are there it waits, up to `maxWaitMilliseconds`, for an append to any
    /// of the partitions (a long poll woken by the append, or by inotify for a
    /// log another process writes). The batches this process has checked go
    /// as regions of the store files, sent from the page cache (sendfile),
    /// with the files that stay open until they are written.
    func fetch(_ request: FetchRequest) async throws -> (FetchResponse, StoreFiles?) {
        let deadline = ContinuousClock.now + .milliseconds(Int(max(request.maxWaitMilliseconds, 0)))
        while true {
            // Reading the batches (up to max_bytes, perhaps from disk) blocks: on NIO's thread pool,
            // not on the two cooperative threads the group coordinator and every connection share.
            let (response, files, bytes, waitOn) = try await NIOThreadPool.singleton.runIfActive { try collect(request) }
            if bytes >= Int(max(request.minBytes, 1)) || waitOn.isEmpty || ContinuousClock.now >= deadline || Task.isCancelled {
                return (response, files)
            }
            await waitForAnyAppend(waitOn, until: deadline)
        }
    }

    /// One look at every partition: the response, the store files its regions
    /// are in, its record bytes, and the (log, offset) pairs that are at their end.
    private func collect(_ request: FetchRequest) throws -> (FetchResponse, StoreFiles?, Int, [LogWaiter]) {
        // Closes the descriptors taken so far when it goes, however this returns.
        let files = StoreFiles()
        var total = 0
        var waitOn: [LogWaiter] = []
        var topicsOut: [FetchResponse.Topic] = []
        for topic in request.topics {
            var partitions: [FetchResponse.Partition] = []
            for partition in topic.partitions {
                let opened: Log?
                do {
                    opened = try topics.log(topic.name, partition: partition.index)
                } catch {
                    // A log that cannot be opened (damage the open found): an error for this partition.
                    logger.error(
                        "kafka.fetch_failed",
                        metadata: ["kafka.topic": "\(topic.name)", "kafka.partition": "\(partition.index)", "error": "\(error)"])
                    partitions.append(
                        .init(
                            index: partition.index, errorCode: .kafkaStorageError, highWatermark: -1, logStartOffset: -1,
                            records: nil))
                    continue
                }
                guard let log = opened else {
                    partitions.append(
                        .init(
                            index: partition.index, errorCode: .unknownTopicOrPartition, highWatermark: -1, logStartOffset: -1,
                            records: nil))
                    continue
                }
                let highWatermark = log.nextOffset
                let logStart = log.lowestOffset
                let offset = partition.fetchOffset
                guard offset >= logStart, offset <= highWatermark else {
                    partitions.append(
                        .init(
                            index: partition.index, errorCode: .offsetOutOfRange, highWatermark: highWatermark,
                            logStartOffset: logStart,
                            records: nil))
                    continue
                }
                // The response stays within the request's max_bytes and each partition within its own;
                // KIP-74: the first batch of the response comes whole even over both.
                let limit = max(min(Int(partition.maxBytes), Int(request.maxBytes) - total), total == 0 ? 1 : 0)
                var records: FetchRecords?
                // read_committed: up to the last stable offset, with the aborted transactions among what is read.
                var lastStable: Int64?
                var aborted: [FetchResponse.AbortedTransaction] = []
                var end = highWatermark
                if request.isolationLevel == 1 || (offset < highWatermark && limit > 0) {
                    do {
                        if request.isolationLevel == 1 {
                            let stable = try producerStates.readCommitted(
                                log, TopicPartition(topic: topic.name, partition: partition.index), from: offset,
                                end: highWatermark)
                            lastStable = stable.lastStableOffset
                            end = stable.lastStableOffset
                            aborted = stable.aborted.map { .init(producerID: $0.producerID, firstOffset: $0.firstOffset) }
                        }
                        if offset < end, limit > 0 {
                            records = try read(
                                log, from: offset, maxBytes: limit, firstAlways: total == 0, end: end, files: files)
                        }
                    } catch let error as LogStoreError {
                        // Retention took the offset meanwhile: out of range. Damage on disk (a batch failing
                        // its CRC-32C): an error for this partition, never data.
                        let outOfRange = error.code == .offsetOutOfRange
                        if !outOfRange {
                            logger.error(
                                "kafka.fetch_failed",
                                metadata: [
                                    "kafka.topic": "\(topic.name)", "kafka.partition": "\(partition.index)", "error": "\(error)",
                                ])
                        }
                        partitions.append(
                            .init(
                                index: partition.index, errorCode: outOfRange ? .offsetOutOfRange : .kafkaStorageError,
                                highWatermark: highWatermark, logStartOffset: log.lowestOffset, records: nil))
                        continue
                    }
                }
                let bytes = records?.byteCount ?? 0
                if bytes == 0 {
                    waitOn.append(LogWaiter(log: log, offset: highWatermark))
                    aborted = []
                    records = nil
                }
                total += bytes
                partitions.append(
                    .init(
                        index: partition.index, errorCode: .none, highWatermark: highWatermark, lastStableOffset: lastStable,
                        logStartOffset: logStart, abortedTransactions: aborted, records: records))
            }
            topicsOut.append(.init(name: topic.name, partitions: partitions))
        }
        return (FetchResponse(topics: topicsOut), files.isEmpty ? nil : files, total, waitOn)
    }

    /// The batches of one partition's fetch (as `Log.readRecordBatches` picks
    /// them): regions of the store files where this process has checked them
    /// (`Log.locateRecordBatches`), else read, checked and copied.
    private func read(
        _ log: Log, from offset: Int64, maxBytes: Int, firstAlways: Bool, end: Int64, files: StoreFiles
    ) throws -> FetchRecords {
        // Whatever keeps the batches from being located (out of descriptors, say) leaves them to the
        // checked read, which reports any error itself.
        if let runs = try? log.locateRecordBatches(from: offset, maxBytes: maxBytes, firstAlways: firstAlways, end: end) {
            return FetchRecords(
                parts: runs.map {
                    .fileRegion(files.region(of: $0.descriptor.rawValue, position: $0.position, byteCount: $0.byteCount))
                })
        }
        // Reserved up front (memory a fetch leaves unused is never touched): growing a buffer of
        // megabytes would move it again and again.
        var records = ByteBufferAllocator().buffer(capacity: min(maxBytes, 64 << 20))
        try log.readRecordBatches(from: offset, maxBytes: maxBytes, firstAlways: firstAlways, end: end) {
            records.writeBytes($0)
        }
        return FetchRecords(records)
    }

    /// Returns when one of the logs has a record at its offset, or at `deadline`.
    private func waitForAnyAppend(_ waitOn: [LogWaiter], until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            for waiter in waitOn {
                group.addTask { _ = await waiter.log.waitForRecord(at: waiter.offset) }
            }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    /// -2: the log start; -1: the end (the next offset); else the first
    /// offset whose timestamp is at least the one asked (-1 when none is).
    func listOffsets(_ request: ListOffsetsRequest) -> ListOffsetsResponse {
        ListOffsetsResponse(
            topics: request.topics.map { topic in
                .init(
                    name: topic.name,
                    partitions: topic.partitions.map { partition in
                        guard let log = try? topics.log(topic.name, partition: partition.index) else {
                            return .init(index: partition.index, errorCode: .unknownTopicOrPartition)
                        }
                        let index = partition.index
                        switch partition.timestamp {
                        case ListOffsetsRequest.earliestTimestamp:
                            return .init(index: index, errorCode: .none, offset: log.lowestOffset)
                        case ListOffsetsRequest.latestTimestamp where request.isolationLevel == 1:
                            // read_committed: the last stable offset.
                            let end = log.nextOffset
                            let stable = try? producerStates.readCommitted(
                                log, TopicPartition(topic: topic.name, partition: index), from: end, end: end)
                            guard let stable else { return .init(index: index, errorCode: .kafkaStorageError) }
                            return .init(index: index, errorCode: .none, offset: stable.lastStableOffset)
                        case ListOffsetsRequest.latestTimestamp:
                            return .init(index: index, errorCode: .none, offset: log.nextOffset)
                        default:
                            do {
                                guard let offset = try log.offset(atOrAfter: partition.timestamp) else {
                                    return .init(index: index, errorCode: .none)
                                }
                                let timestamp = (try? log.read(at: offset).timestamp) ?? -1
                                return .init(index: index, errorCode: .none, timestamp: timestamp, offset: offset)
                            } catch {
                                return .init(index: index, errorCode: .kafkaStorageError)
                            }
                        }
                    })
            })
    }
}
