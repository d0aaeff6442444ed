extension Log {
    /// Appends one record and returns its offset. Under `SyncPolicy.always`
    /// the task suspends, without blocking a thread, until the record is
    /// durable: many concurrent tasks share each `fdatasync`, which a
    /// background thread of the log runs.
    /// - Throws: as the synchronous `append(_:)`.
    @discardableResult
    public func append(_ record: Record) async throws -> Int64 {
        let (offsets, sequence) = try appendBatch(CollectionOfOne(record), waitForDurability: false)
        try await waitUntilDurable(sequence)
        return offsets.lowerBound
    }

    /// Appends records as one batch (all or nothing) and returns their
    /// offsets; under `.always` suspends until they are durable.
    @discardableResult
    public func append(_ records: [Record]) async throws -> Range<Int64> {
        let (offsets, sequence) = try appendBatch(records, waitForDurability: false)
        try await waitUntilDurable(sequence)
        return offsets
    }

    /// Appends records as one batch (all or nothing) and returns at once,
    /// whatever the sync policy: the caller decides when to wait for
    /// durability, with `waitUntilDurable(_:)`. Appending goes on meanwhile, so
    /// a pipeline (say, an ingester acknowledging its source only what is
    /// durable) overlaps its work with the `fdatasync`.
    /// - Throws: as the synchronous `append(_:)`.
    public func appendDeferringDurability(_ records: [Record]) throws -> AppendReceipt {
        let (offsets, sequence) = try appendBatch(records, waitForDurability: false)
        return AppendReceipt(offsets: offsets, sequence: sequence)
    }

    /// Suspends until the receipt's records, and everything appended before
    /// them, are durable. Under `.always` the log's syncer thread makes them so
    /// at once (waiters share each `fdatasync`); under `.interval` the next
    /// interval sync covers them; under `.never` the syncer runs for them.
    /// - Throws: `LogStoreError` when the sync fails or the log fails or closes
    ///   before syncing them.
    public func waitUntilDurable(_ receipt: AppendReceipt) async throws {
        try await awaitDurability(receipt.sequence)
    }

    /// Suspends until the first `sequence` bytes appended since open are durable
    /// (immediately unless the policy is `.always`).
    func waitUntilDurable(_ sequence: UInt64) async throws {
        guard case .always = options.syncPolicy else { return }
        try await awaitDurability(sequence)
    }

    /// Suspends until the first `sequence` bytes appended since open are durable.
    private func awaitDurability(_ sequence: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            writerLock.withLock {
                if writer.durableSequence >= sequence {
                    continuation.resume()
                } else if let failure = writer.failure {
                    continuation.resume(throwing: failure)
                } else if writer.closed && writer.lockReleased {
                    continuation.resume(throwing: LogStoreError(.unavailable, "log is closed", path: directory.string))
                } else {
                    // A closing log syncs everything and resumes its waiters itself.
                    if syncThread == nil && !writer.closed {
                        // Started on first use, so logs only appended to synchronously have no extra thread.
                        do {
                            syncThread = try startThread { [self] in runDurabilitySyncer() }
                        } catch {
                            continuation.resume(throwing: error)
                            return
                        }
                    }
                    writer.durabilityWaiters.append((sequence, continuation))
                    writerLock.broadcast()  // wakes the syncer
                }
            }
        }
    }

    /// Resumes the async appenders whose records are now durable.
    func resumeDurableWaitersLocked() {
        guard !writer.durabilityWaiters.isEmpty else { return }
        let durable = writer.durableSequence
        var pending: [(sequence: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        for waiter in writer.durabilityWaiters {
            if waiter.sequence <= durable { waiter.continuation.resume() } else { pending.append(waiter) }
        }
        writer.durabilityWaiters = pending
    }

    /// The `.always` syncer: while async appenders wait, runs group-commit
    /// rounds (flush, then `fdatasync` without the lock). Ends when the log closes.
    func runDurabilitySyncer() {
        writerLock.lock()
        defer { writerLock.unlock() }
        while !writer.closed {
            // A blocking appender leading a round resumes our waiters when it ends.
            guard !writer.durabilityWaiters.isEmpty, writer.failure == nil, !writer.syncInProgress else {
                writerLock.wait()
                continue
            }
            do {
                try syncOnceLocked()
            } catch {
                // `fail` resumed every waiter with the error.
                logger.error("log.sync_failed", metadata: ["log.directory": "\(directory)", "error": "\(error)"])
            }
        }
    }
}

/// Where `Log.appendDeferringDurability(_:)` put a batch: its offsets, and
/// its place in the log's write order for `Log.waitUntilDurable(_:)`.
public struct AppendReceipt: Sendable, Hashable {
    /// The offsets the records got.
    public let offsets: Range<Int64>
    /// Bytes appended since open, up to and including this batch.
    let sequence: UInt64
}
