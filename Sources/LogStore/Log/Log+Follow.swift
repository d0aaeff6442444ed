import Synchronization

extension Log {
    /// The records from `offset` on, waiting at the end of the log for more
    /// (no polling: appends wake the waiters). The sequence ends when the log
    /// closes or the task is cancelled.
    public func follow(from offset: Int64) -> LogFollower {
        LogFollower(log: self, start: offset)
    }

    /// Suspends until a record at `offset` is readable, the log closes (false)
    /// or the task is cancelled (false).
    func waitUntilReadable(_ offset: Int64) async -> Bool {
        waitingFollowers.add(1, ordering: .sequentiallyConsistent)
        defer { waitingFollowers.subtract(1, ordering: .sequentiallyConsistent) }
        let id = view.withLock { view in
            view.nextWaiterID += 1
            return view.nextWaiterID
        }
        var needsFlush = false
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = view.withLock { view -> Bool in
                    if view.closed || Task.isCancelled || view.active.nextOffset > offset || offset < view.lowestOffset {
                        return true
                    }
                    view.waiters.append(Waiter(id: id, offset: offset, continuation: continuation))
                    // Appended but still in the write buffer: flush it out (below).
                    needsFlush = view.nextOffset > offset
                    return false
                }
                if ready { continuation.resume() }
                if needsFlush { try? flush() }
            }
        } onCancel: {
            let waiter = view.withLock { view -> Waiter? in
                guard let index = view.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return view.waiters.remove(at: index)
            }
            waiter?.continuation.resume()
        }
        return view.withLock { !$0.closed } && !Task.isCancelled
    }
}

/// An `AsyncSequence` of the records of a log from an offset on, following
/// the log as it grows. Records are read in batches of up to `batchSize`.
public struct LogFollower: AsyncSequence, Sendable {
    public typealias Element = StoredRecord
    let log: Log
    let start: Int64
    public var batchSize = 1000

    public func makeAsyncIterator() -> Iterator {
        Iterator(log: log, nextOffset: start, batchSize: batchSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let log: Log
        /// The offset of the next record to return.
        public private(set) var nextOffset: Int64
        let batchSize: Int
        var pending: [StoredRecord] = []
        var pendingIndex = 0

        init(log: Log, nextOffset: Int64, batchSize: Int) {
            self.log = log
            self.nextOffset = nextOffset
            self.batchSize = batchSize
        }

        /// The next record; nil once the log is closed or the task cancelled.
        /// - Throws: `LogStoreError` (`.offsetOutOfRange` when retention removed
        ///   the records this iterator was about to read).
        public mutating func next() async throws -> StoredRecord? {
            while true {
                if pendingIndex < pending.count {
                    let record = pending[pendingIndex]
                    pendingIndex += 1
                    nextOffset = record.offset + 1
                    return record
                }
                if Task.isCancelled { return nil }
                var batch: [StoredRecord] = []
                let end = try log.forEachRecord(from: nextOffset) { record in
                    batch.append(record.stored())
                    return batch.count < batchSize
                }
                pending = batch
                pendingIndex = 0
                if !pending.isEmpty { continue }
                if end > nextOffset {
                    // Only offsets compaction removed: move past them.
                    nextOffset = end
                    continue
                }
                guard await log.waitForRecord(at: nextOffset) else { return nil }
            }
        }
    }
}
