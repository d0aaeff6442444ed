import LogStore
import SystemPackage

/// `peak-rss` and `reopen`: append a large log, watching the process's peak
/// resident memory, close it cleanly, and time `Log.open` of it.
public struct LargeLogResult: Sendable {
    public var bytes: Int
    public var valueBytes: Int
    public var batch: Int
    public var segments: Int
    public var appendSeconds: Double
    /// RSS when appending started, and the peak while appending (bytes).
    public var baselineResident: Int
    public var peakResident: Int
    /// False when the peak could not be reset first: then it is the process's
    /// lifetime peak, which includes earlier workloads.
    public var peakWasReset: Bool
    public var reopenSeconds: Double
    /// The workloads' names: `peak-rss`/`reopen` or their 10 GiB variants.
    public var peakName: String
    public var reopenName: String

    static let mebibyte = 1_048_576.0

    public var peakReport: BenchReport {
        BenchReport(
            workload: peakName,
            figure: Figure("peak RSS while appending", Double(peakResident) / Self.mebibyte, "MiB"),
            reference: Figure("RSS before appending", Double(baselineResident) / Self.mebibyte, "MiB"),
            target: Target(.figure, .atMost, 64, "MiB"),
            details: [
                Figure("growth", Double(peakResident - baselineResident) / Self.mebibyte, "MiB"),
                Figure("append MB/s", Double(bytes) / appendSeconds / 1e6, "MB/s"),
                Figure("segments", Double(segments), "segments"),
            ],
            setup: "\(NumberText.bytes(bytes)) of \(valueBytes) B values in batches of \(batch), SyncPolicy.never; VmHWM "
                + (peakWasReset ? "reset before appending" : "NOT reset (process lifetime peak)"))
    }

    public var reopenReport: BenchReport {
        BenchReport(
            workload: reopenName,
            figure: Figure("Log.open after clean close", reopenSeconds, "s"),
            target: Target(.figure, .atMost, 1, "s"),
            details: [Figure("segments", Double(segments), "segments")],
            setup: "\(NumberText.bytes(bytes)) log, \(segments) segments, files in page cache")
    }
}

public enum LargeLogWorkload {
    /// Runs both measurements on one log of `bytes` payload bytes.
    public static func run(bytes: Int, peakName: String, reopenName: String, _ configuration: BenchConfiguration) throws
        -> LargeLogResult
    {
        let valueBytes = configuration.recordBytes(default: 1024)
        let batch = configuration.batch(default: 100)
        let batches = max(bytes / (valueBytes * batch), 1)
        let records = benchRecords(count: batch, valueBytes: valueBytes)
        return try withBenchDirectory(in: configuration.directory) { directory in
            let peakWasReset = MemoryUsage.resetPeak()
            let baseline = MemoryUsage.residentBytes() ?? 0
            var segments = 0
            let appendSeconds = try measureSeconds {
                let log = try openBenchLog(in: directory, syncPolicy: .never)
                for _ in 0..<batches { try log.append(records) }
                try log.sync()
                segments = try log.segments().count
                try log.close()
            }
            let peak = MemoryUsage.peakResidentBytes() ?? 0
            var reopened: Log?
            let reopenSeconds = try measureSeconds {
                reopened = try Log.open(directory: directory.file("log"), options: LogOptions(syncPolicy: .never))
            }
            guard let reopened, reopened.nextOffset == Int64(batches * batch) else {
                throw BenchError("reopened log does not end at offset \(batches * batch)")
            }
            try reopened.close()
            return LargeLogResult(
                bytes: batches * batch * valueBytes, valueBytes: valueBytes, batch: batch, segments: segments,
                appendSeconds: appendSeconds, baselineResident: baseline, peakResident: peak, peakWasReset: peakWasReset,
                reopenSeconds: reopenSeconds, peakName: peakName, reopenName: reopenName)
        }
    }
}
