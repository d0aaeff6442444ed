/// Runs workloads by name and collects their report lines.
public enum BenchSuite {
    /// Runs `workloads` in order; `progress` sees each report as it is made.
    /// `reopen` and `peak-rss` share one log when both are asked for.
    public static func run(
        _ workloads: [Workload], configuration: BenchConfiguration, progress: (BenchReport) -> Void = { _ in }
    ) throws -> [BenchReport] {
        var reports: [BenchReport] = []
        var pending = workloads
        func emit(_ report: BenchReport) {
            reports.append(report)
            progress(report)
        }
        while !pending.isEmpty {
            let workload = pending.removeFirst()
            switch workload {
            case .append1kBatch100Never: emit(try AppendWorkloads.bulk(configuration).bulkReport)
            case .append100bSingleNever: emit(try AppendWorkloads.single(configuration).singleReport)
            case .append100bBatch100Always: emit(try AppendWorkloads.synced(configuration).syncedReport)
            case .readSequential1k: emit(try ReadWorkloads.sequential(configuration).report)
            case .readRandom1k: emit(try ReadWorkloads.random(configuration).report)
            case .appendConcurrentAlways: emit(try ConcurrentAppendWorkload.run(configuration).report)
            case .appendConcurrentAlwaysTasks: emit(try ConcurrentAppendWorkload.runTasks(configuration))
            case .followLatency: emit(try ConsumerWorkloads.followLatency(configuration))
            case .followLatencyReader: emit(try ConsumerWorkloads.followLatency(configuration, acrossProcesses: true))
            case .consumeCommit1k: emit(try ConsumerWorkloads.consumeCommit(configuration))
            case .gzipAppendCDCJSON: try CompressionWorkloads.gzipAppend(configuration).forEach(emit)
            case .compact1mKeys: emit(try CompactionWorkload.run(configuration))
            case .reopen, .peakRSS, .reopen10GiB, .peakRSS10GiB:
                let large = workload.isLarge
                let (peak, reopen): (Workload, Workload) = large ? (.peakRSS10GiB, .reopen10GiB) : (.peakRSS, .reopen)
                let partner = workload == peak ? reopen : peak
                let both = pending.contains(partner)
                pending.removeAll { $0 == partner }
                let result = try LargeLogWorkload.run(
                    bytes: large ? 10 << 30 : configuration.largeBytes, peakName: peak.rawValue, reopenName: reopen.rawValue,
                    configuration)
                if workload == peak || both { emit(result.peakReport) }
                if workload == reopen || both { emit(result.reopenReport) }
            }
        }
        return reports
    }
}
