import LogStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `follow-latency` and `consume-commit-1k`: what consumers cost.
public enum ConsumerWorkloads {
    /// A consumer following a `.always` log, in a task, while this thread
    /// appends one 100-byte record every 500 µs: the time from an append
    /// returning (the record is durable) to the consumer holding it. A record
    /// becomes visible the moment its fdatasync completes, which can be
    /// before its append call has returned: such latencies count as 0.
    ///
    /// With `acrossProcesses` (`follow-latency-reader`), the follower is a
    /// second `Log` opened with `openForReading`, as `logd read --follow` in
    /// another process opens it: it shares nothing with the writer but the
    /// files, and is woken by the directory watcher (inotify) or polling.
    public static func followLatency(_ configuration: BenchConfiguration, acrossProcesses: Bool = false) throws -> BenchReport {
        let count = 2000
        let valueBytes = configuration.recordBytes(default: 100)
        return try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .always)
            defer { try? log.close() }
            let received = Mutex([UInt64](repeating: 0, count: count))
            let finished = Atomic<Bool>(false)
            let follower: Task<Void, any Error>
            if acrossProcesses {
                try log.append(benchRecords(count: 1, valueBytes: valueBytes)[0])  // a reader needs a store file to open
                let reader = try Log.openForReading(directory: log.directory)
                follower = Task.detached {
                    defer {
                        finished.store(true, ordering: .releasing)
                        try? reader.close()
                    }
                    for try await record in reader.follow(from: 1) {
                        let now = monotonicNanoseconds()
                        received.withLock { $0[Int(record.offset - 1)] = now }
                        if record.offset == Int64(count) { return }
                    }
                }
            } else {
                let consumer = try Consumer(log: log, group: "bench", resetPolicy: .latest)
                follower = Task.detached {
                    defer { finished.store(true, ordering: .releasing) }
                    for try await record in consumer.records(batchSize: 100) {
                        let now = monotonicNanoseconds()
                        received.withLock { $0[Int(record.offset)] = now }
                        if record.offset == Int64(count - 1) { return }
                    }
                }
            }
            let record = benchRecords(count: 1, valueBytes: valueBytes)[0]
            var acknowledged = [UInt64](repeating: 0, count: count)
            var appendLatencies: [UInt64] = []
            appendLatencies.reserveCapacity(count)
            for index in 0..<count {
                usleep(500)
                let start = monotonicNanoseconds()
                try log.append(record)
                acknowledged[index] = monotonicNanoseconds()
                appendLatencies.append(acknowledged[index] - start)
            }
            let deadline = monotonicNanoseconds() + 10_000_000_000
            while !finished.load(ordering: .acquiring) && monotonicNanoseconds() < deadline { usleep(1000) }
            follower.cancel()
            let seen = received.withLock { $0 }
            let missing = seen.filter { $0 == 0 }.count
            guard missing == 0 else {
                throw BenchError("follow-latency: the consumer did not see \(missing) of \(count) records within 10 s")
            }
            let latencies = zip(seen, acknowledged).map { $0 > $1 ? $0 - $1 : 0 }.sorted()
            appendLatencies.sort()
            return BenchReport(
                workload: acrossProcesses ? Workload.followLatencyReader.rawValue : Workload.followLatency.rawValue,
                figure: Figure(
                    acrossProcesses ? "durable append to read-only follower p99" : "durable append to consumer p99",
                    RandomReadResult.percentile(latencies, 0.99) / 1000, "ms"),
                reference: Figure(
                    "durable append (fdatasync) p99", RandomReadResult.percentile(appendLatencies, 0.99) / 1000, "ms"),
                target: Target(.figure, .atMost, acrossProcesses ? 1 : 5, "ms"),
                details: [
                    Figure("p50", RandomReadResult.percentile(latencies, 0.50) / 1000, "ms"),
                    Figure("max", Double(latencies.last ?? 0) / 1e6, "ms"),
                    Figure("append p50", RandomReadResult.percentile(appendLatencies, 0.50) / 1000, "ms"),
                ],
                setup: "\(count) records of \(valueBytes) B, one every 500 us, SyncPolicy.always; "
                    + (acrossProcesses
                        ? "a task following a second Log opened with openForReading (as another process does)"
                        : "consumer task on Consumer.records()"))
        }
    }

    /// Consumes a log of 1 KiB records with `Consumer.poll` (zero-copy):
    /// without committing, committing after every poll in the background
    /// (`commitInBackground`: the fdatasync overlaps the next poll), and
    /// committing durably after every poll (`commit`: waits for the
    /// fdatasync). The figure is the throughput with background commits per
    /// 4 MiB poll (about 4,000 records: a poll takes about as long as an
    /// fdatasync here, so the sync hides behind the next poll) as a fraction
    /// of the throughput without commits; 1 MiB polls are in the details.
    public static func consumeCommit(_ configuration: BenchConfiguration) throws -> BenchReport {
        let valueBytes = configuration.recordBytes(default: 1024)
        let batch = configuration.batch(default: 100)
        let batches = max(min(configuration.bytes, 128 << 20) / (valueBytes * batch), 1)
        enum Commit { case none, background, durable }
        return try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .never)
            defer { try? log.close() }
            let records = benchRecords(count: batch, valueBytes: valueBytes)
            for _ in 0..<batches { try log.append(records) }
            try log.sync()
            var group = 0
            var checksum: UInt8 = 0
            func consume(maxBytes: Int, _ commit: Commit) throws -> Double {
                group += 1
                let consumer = try Consumer(log: log, group: "bench-\(group)")
                return try measureSeconds {
                    while try consumer.poll(maxRecords: Int.max, maxBytes: maxBytes, { checksum &+= $0.value?.first ?? 0 }) > 0 {
                        switch commit {
                        case .none: break
                        case .background: try consumer.commitInBackground()
                        case .durable: try consumer.commit()
                        }
                    }
                    if case .background = commit { try consumer.waitUntilCommitted() }
                }
            }
            let megabytes = Double(batches * batch * valueBytes) / 1e6
            var details: [Figure] = []
            var figure = 0.0
            for maxBytes in [1 << 20, 4 << 20] {
                var plain = Double.infinity
                var background = Double.infinity
                var durable = Double.infinity
                for _ in 0..<max(configuration.rounds, 5) {
                    plain = min(plain, try consume(maxBytes: maxBytes, .none))
                    background = min(background, try consume(maxBytes: maxBytes, .background))
                    durable = min(durable, try consume(maxBytes: maxBytes, .durable))
                }
                let size = "\(maxBytes >> 20) MiB polls"
                if maxBytes == 4 << 20 { figure = plain / background }
                details += [
                    Figure("\(size): no commits", megabytes / plain, "MB/s"),
                    Figure("\(size): background commits", megabytes / background, "MB/s"),
                    Figure("\(size): durable commits", megabytes / durable, "MB/s"),
                    Figure("\(size): durable ratio", plain / durable, "x"),
                ]
            }
            if checksum == 1 { print("", terminator: "") }  // keeps the reads from being optimised away
            return BenchReport(
                workload: Workload.consumeCommit1k.rawValue,
                figure: Figure("throughput with a background commit per 4 MiB poll / without commits", figure, "x"),
                target: Target(.figure, .atLeast, 0.95, "x"),
                details: details,
                setup:
                    "\(batches * batch) records of \(valueBytes) B in page cache; Consumer.poll zero-copy; a commit is a pwrite + fdatasync"
            )
        }
    }
}
