import LogStore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `append-concurrent-always`: many OS threads appending single records under
/// `SyncPolicy.always` (they share fdatasyncs through group commit), against
/// one thread doing the same.
public struct ConcurrentAppendResult: Sendable {
    public var threads: Int
    public var valueBytes: Int
    public var records: Int
    public var seconds: Double
    public var singleThreadRecords: Int
    public var singleThreadSeconds: Double
    public var recordsPerSecond: Double { Double(records) / seconds }
    public var singleThreadRecordsPerSecond: Double { Double(singleThreadRecords) / singleThreadSeconds }

    public var report: BenchReport {
        BenchReport(
            workload: Workload.appendConcurrentAlways.rawValue,
            figure: Figure("\(threads) threads", recordsPerSecond, "records/s"),
            reference: Figure("1 thread", singleThreadRecordsPerSecond, "records/s"),
            target: Target(.ratio, .atLeast, 20, "x"),
            details: [
                Figure("records", Double(records), "records"), Figure("seconds", seconds, "s"),
                Figure("1-thread records", Double(singleThreadRecords), "records"),
            ],
            setup:
                "\(valueBytes) B values, one append call per record per thread, SyncPolicy.always, \(NumberText.short(seconds)) s each side"
        )
    }
}

public enum ConcurrentAppendWorkload {
    public static func run(_ configuration: BenchConfiguration) throws -> ConcurrentAppendResult {
        let valueBytes = configuration.recordBytes(default: 100)
        let single = try measure(threads: 1, valueBytes: valueBytes, configuration)
        let many = try measure(threads: max(configuration.threads, 1), valueBytes: valueBytes, configuration)
        return ConcurrentAppendResult(
            threads: max(configuration.threads, 1), valueBytes: valueBytes, records: many.records, seconds: many.seconds,
            singleThreadRecords: single.records, singleThreadSeconds: single.seconds)
    }

    /// Runs `threads` appenders on a fresh `.always` log for the configured time.
    static func measure(threads: Int, valueBytes: Int, _ configuration: BenchConfiguration) throws -> (
        records: Int, seconds: Double
    ) {
        try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .always)
            let shared = SharedState()
            let record = benchRecords(count: 1, valueBytes: valueBytes)[0]
            var started: [pthread_t] = []
            var start: UInt64 = 0
            // The gate is held while the threads are created, so they all start together.
            try shared.gate.withLock { _ in
                for _ in 0..<threads {
                    started.append(
                        try startThread {
                            shared.gate.withLock { _ in }
                            var appended = 0
                            do {
                                while !shared.stop.load(ordering: .relaxed) {
                                    try log.append(record)
                                    appended += 1
                                }
                            } catch {
                                shared.failures.withLock { $0.append("\(error)") }
                            }
                            shared.records.add(appended, ordering: .relaxed)
                        })
                }
                start = monotonicNanoseconds()
            }
            sleepSeconds(configuration.concurrentSeconds)
            shared.stop.store(true, ordering: .relaxed)
            for thread in started { pthread_join(thread, nil) }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            try log.close()
            if let failure = shared.failures.withLock({ $0.first }) { throw BenchError("an appender failed: \(failure)") }
            return (shared.records.load(ordering: .relaxed), seconds)
        }
    }

    final class SharedState: Sendable {
        let gate = Mutex<Void>(())
        let stop = Atomic<Bool>(false)
        let records = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
    }
}

func sleepSeconds(_ seconds: Double) {
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

extension ConcurrentAppendWorkload {
    /// `threads` OS threads each append `recordsPerThread` copies of `record`
    /// to `log` (fixed work, for the benchmark suites); returns when all are done.
    public static func appendFixed(to log: Log, record: Record, threads: Int, recordsPerThread: Int) throws {
        let shared = SharedState()
        var started: [pthread_t] = []
        try shared.gate.withLock { _ in
            for _ in 0..<threads {
                started.append(
                    try startThread {
                        shared.gate.withLock { _ in }
                        do {
                            for _ in 0..<recordsPerThread { try log.append(record) }
                        } catch {
                            shared.failures.withLock { $0.append("\(error)") }
                        }
                    })
            }
        }
        for thread in started { pthread_join(thread, nil) }
        if let failure = shared.failures.withLock({ $0.first }) { throw BenchError("an appender failed: \(failure)") }
    }
}

extension ConcurrentAppendWorkload {
    /// `append-concurrent-always-tasks`: the same with Swift tasks calling the
    /// async `append`, which suspends instead of blocking a thread while the
    /// log's syncer runs the shared fdatasync; against one task.
    public static func runTasks(_ configuration: BenchConfiguration) throws -> BenchReport {
        let valueBytes = configuration.recordBytes(default: 100)
        let tasks = max(configuration.threads, 1)
        let single = try measureTasks(tasks: 1, valueBytes: valueBytes, configuration)
        let many = try measureTasks(tasks: tasks, valueBytes: valueBytes, configuration)
        return BenchReport(
            workload: Workload.appendConcurrentAlwaysTasks.rawValue,
            figure: Figure("\(tasks) tasks", Double(many.records) / many.seconds, "records/s"),
            reference: Figure("1 task", Double(single.records) / single.seconds, "records/s"),
            target: Target(.ratio, .atLeast, 20, "x"),
            details: [
                Figure("records", Double(many.records), "records"), Figure("1-task records", Double(single.records), "records"),
            ],
            setup:
                "\(valueBytes) B values, one async append per record per task, SyncPolicy.always, \(NumberText.short(configuration.concurrentSeconds)) s each side"
        )
    }

    static func measureTasks(tasks: Int, valueBytes: Int, _ configuration: BenchConfiguration) throws -> (
        records: Int, seconds: Double
    ) {
        try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .always)
            let shared = SharedState()
            let done = Atomic<Bool>(false)
            let record = benchRecords(count: 1, valueBytes: valueBytes)[0]
            let start = monotonicNanoseconds()
            let runner = Task.detached {
                defer { done.store(true, ordering: .releasing) }
                await withTaskGroup(of: Int.self) { group in
                    for _ in 0..<tasks {
                        group.addTask {
                            var appended = 0
                            do {
                                while !shared.stop.load(ordering: .relaxed) {
                                    try await log.append(record)
                                    appended += 1
                                }
                            } catch {
                                shared.failures.withLock { $0.append("\(error)") }
                            }
                            return appended
                        }
                    }
                    for await appended in group { shared.records.add(appended, ordering: .relaxed) }
                }
            }
            sleepSeconds(configuration.concurrentSeconds)
            shared.stop.store(true, ordering: .relaxed)
            while !done.load(ordering: .acquiring) { usleep(1000) }
            _ = runner
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            try log.close()
            if let failure = shared.failures.withLock({ $0.first }) { throw BenchError("an appender failed: \(failure)") }
            return (shared.records.load(ordering: .relaxed), seconds)
        }
    }
}
