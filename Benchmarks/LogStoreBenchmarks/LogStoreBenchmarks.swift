import Benchmark
import LogBench
import LogStore

// The append and read workloads of `logd bench`, as ordo-one/benchmark suites
// (allocations and peak RSS tracked along with time). Each iteration's
// throughput unit is in the benchmark's name. Run with
//   swift package --allow-writing-to-package-directory benchmark --target LogStoreBenchmarks

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident]
    Benchmark.defaultConfiguration = .init(metrics: metrics, warmupIterations: 1, maxDuration: .seconds(5), maxIterations: 50)

    // A fresh log per iteration; only the appends (and final sync) are measured.
    func appendBenchmark(_ name: String, scalingFactor: BenchmarkScalingFactor, policy: SyncPolicy, valueBytes: Int, batch: Int) {
        Benchmark(name, configuration: .init(scalingFactor: scalingFactor, maxIterations: 20)) { benchmark in
            let directory = try BenchDirectory()
            defer { directory.remove() }
            let log = try openBenchLog(in: directory, syncPolicy: policy)
            let records = benchRecords(count: batch, valueBytes: valueBytes)
            benchmark.startMeasurement()
            if batch == 1 {
                for _ in benchmark.scaledIterations { try log.append(records[0]) }
            } else {
                for _ in benchmark.scaledIterations { try log.append(records) }
            }
            if case .never = policy { try log.sync() }
            benchmark.stopMeasurement()
            try log.close()
        }
    }
    // 1,000 batches of 100 x 1 KiB (about 100 MB) and one sync an iteration.
    appendBenchmark("append-1k-batch100-never (per batch)", scalingFactor: .kilo, policy: .never, valueBytes: 1024, batch: 100)
    // 1,000,000 single appends of 100 B and one sync an iteration.
    appendBenchmark("append-100b-single-never (per record)", scalingFactor: .mega, policy: .never, valueBytes: 100, batch: 1)
    // 1,000 synced batches of 100 x 100 B an iteration.
    appendBenchmark("append-100b-batch100-always (per batch)", scalingFactor: .kilo, policy: .always, valueBytes: 100, batch: 100)

    // 64 threads x 100 single appends under SyncPolicy.always an iteration (group commit).
    Benchmark("append-concurrent-always (64 threads x 100 records)", configuration: .init(maxIterations: 50)) { benchmark in
        let directory = try BenchDirectory()
        defer { directory.remove() }
        let log = try openBenchLog(in: directory, syncPolicy: .always)
        let record = benchRecords(count: 1, valueBytes: 100)[0]
        benchmark.startMeasurement()
        try ConcurrentAppendWorkload.appendFixed(to: log, record: record, threads: 64, recordsPerThread: 100)
        benchmark.stopMeasurement()
        try log.close()
    }

    // Reads share logs made once in setup: 64 MiB of 1 KiB records, in page cache.
    let fixture = ReadFixture()
    Benchmark(
        "read-sequential-1k (64 MiB per iteration)",
        configuration: .init(
            setup: { try fixture.makeSequential() }, teardown: { fixture.remove() })
    ) { benchmark in
        guard let log = fixture.sequential else { return }
        var next = log.lowestOffset
        let end = log.nextOffset
        var bytes = 0
        while next < end {
            next = try log.forEachRecord(from: next) { record in
                bytes += record.value?.count ?? 0
                return true
            }
        }
        blackHole(bytes)
    }
    Benchmark(
        "read-random-1k (per read, single-record batches)",
        configuration: .init(
            scalingFactor: .kilo, setup: { try fixture.makeRandom() }, teardown: { fixture.remove() })
    ) { benchmark in
        guard let log = fixture.random else { return }
        for _ in benchmark.scaledIterations {
            let offset = Int64.random(in: 0..<fixture.randomCount, using: &fixture.generator)
            blackHole(try log.read(at: offset))
        }
    }
}

/// Logs the read benchmarks share, made by their setup hooks.
final class ReadFixture {
    var directory: BenchDirectory?
    var sequential: Log?
    var random: Log?
    let randomCount: Int64 = 65_536
    var generator = SystemRandomNumberGenerator()

    func makeSequential() throws {
        let directory = try BenchDirectory()
        self.directory = directory
        let log = try openBenchLog(in: directory, syncPolicy: .never, name: "sequential")
        let records = benchRecords(count: 100, valueBytes: 1024)
        for _ in 0..<(64 << 20) / (100 * 1024) { try log.append(records) }
        try log.sync()
        sequential = log
    }

    func makeRandom() throws {
        let directory = try BenchDirectory()
        self.directory = directory
        let log = try openBenchLog(in: directory, syncPolicy: .never, name: "random")
        let record = benchRecords(count: 1, valueBytes: 1024)[0]
        for _ in 0..<randomCount { try log.append(record) }
        try log.flush()
        random = log
    }

    func remove() {
        try? sequential?.close()
        try? random?.close()
        sequential = nil
        random = nil
        directory?.remove()
        directory = nil
    }
}
