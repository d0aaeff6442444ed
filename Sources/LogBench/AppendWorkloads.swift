import LogStore
import SystemPackage

/// `count` records with `valueBytes`-byte values (one shared value array: no
/// allocation per record while appending).
public func benchRecords(count: Int, valueBytes: Int) -> [Record] {
    var value = [UInt8](repeating: 0, count: valueBytes)
    for index in 0..<valueBytes { value[index] = UInt8(truncatingIfNeeded: index &* 131 &+ 17) }
    return [Record](repeating: Record(value: value), count: count)
}

/// Opens a fresh log called `log` in `directory`.
public func openBenchLog(in directory: BenchDirectory, syncPolicy: SyncPolicy, name: String = "log") throws -> Log {
    try Log.open(directory: directory.file(name), options: LogOptions(syncPolicy: syncPolicy))
}

/// Bytes of the log's `.store` files.
func storeBytes(of log: Log) throws -> Int {
    Int(try log.segments().reduce(0) { $0 + $1.storeBytes })
}

/// Result of an append workload measured as throughput against a raw-file reference.
public struct AppendThroughputResult: Sendable {
    public var name: String
    public var records: Int
    public var valueBytes: Int
    public var batch: Int
    /// Record values appended.
    public var payloadBytes: Int
    /// Bytes the log wrote to its `.store` files (payload plus record and batch framing).
    public var storeBytes: Int
    /// Best round of the log.
    public var seconds: Double
    /// Best round of the reference.
    public var referenceSeconds: Double
    public var recordsPerSecond: Double { Double(records) / seconds }
    public var payloadMegabytesPerSecond: Double { Double(payloadBytes) / seconds / 1e6 }
}

extension AppendThroughputResult {
    /// `append-1k-batch100-never`: the figure is payload MB/s; the reference is
    /// pwrite of as many bytes in 1 MiB blocks plus one fdatasync.
    var bulkReport: BenchReport {
        BenchReport(
            workload: name,
            figure: Figure("log append + final sync", payloadMegabytesPerSecond, "MB/s"),
            reference: Figure("raw pwrite 1 MiB blocks + fdatasync", Double(payloadBytes) / referenceSeconds / 1e6, "MB/s"),
            target: Target(.ratio, .atLeast, 0.85, "x"),
            details: [
                Figure("records/s", recordsPerSecond, "records/s"), Figure("seconds", seconds, "s"),
                Figure("payload", Double(payloadBytes) / 1_048_576, "MiB"),
                Figure("store", Double(storeBytes) / 1_048_576, "MiB"),
            ],
            setup: "\(valueBytes) B values, batches of \(batch), SyncPolicy.never, one log.sync() at the end (timed)")
    }

    /// `append-100b-single-never`: the figure is records/s; the reference is
    /// the rate at which the same store bytes go out in 1 MiB pwrites (no sync).
    var singleReport: BenchReport {
        BenchReport(
            workload: name,
            figure: Figure("log append", recordsPerSecond, "records/s"),
            reference: Figure(
                "raw pwrite of the same store bytes, 1 MiB blocks, no sync", Double(records) / referenceSeconds, "records/s"),
            target: Target(.figure, .atLeast, 3_000_000, "records/s"),
            details: [
                Figure("seconds", seconds, "s"), Figure("store", Double(storeBytes) / 1_048_576, "MiB"),
                Figure("store MB/s", Double(storeBytes) / seconds / 1e6, "MB/s"),
            ],
            setup: "\(valueBytes) B values, one append call per record, SyncPolicy.never, no final sync (segment rolls sync)")
    }

    /// `append-100b-batch100-always`: the figure is records/s; the reference
    /// writes a batch of the same size and fdatasyncs it, batch after batch.
    var syncedReport: BenchReport {
        BenchReport(
            workload: name,
            figure: Figure("log append, fdatasync per batch", recordsPerSecond, "records/s"),
            reference: Figure("raw pwrite + fdatasync per batch", Double(records) / referenceSeconds, "records/s"),
            target: Target(.figure, .atLeast, 1_000_000, "records/s"),
            details: [
                Figure("batches/s", Double(records / batch) / seconds, "batches/s"),
                Figure("reference batches/s", Double(records / batch) / referenceSeconds, "batches/s"),
                Figure("seconds", seconds, "s"),
            ],
            setup: "\(valueBytes) B values, batches of \(batch), SyncPolicy.always, single appender")
    }
}

public enum AppendWorkloads {
    /// Appends `totalBytes` of payload in batches, `SyncPolicy.never`, then one
    /// `sync()`; against raw 1 MiB pwrites of the same byte count plus one fdatasync.
    public static func bulk(_ configuration: BenchConfiguration) throws -> AppendThroughputResult {
        let valueBytes = configuration.recordBytes(default: 1024)
        let batch = configuration.batch(default: 100)
        let batches = max(configuration.bytes / (valueBytes * batch), 1)
        let records = benchRecords(count: batch, valueBytes: valueBytes)
        var best = Double.infinity
        var bestReference = Double.infinity
        var written = 0
        for _ in 0..<max(configuration.rounds, 1) {
            try withBenchDirectory(in: configuration.directory) { directory in
                bestReference = min(
                    bestReference,
                    try RawFileReference.sequentialWrite(
                        at: directory.file("raw"), totalBytes: batches * batch * valueBytes, sync: true))
                let log = try openBenchLog(in: directory, syncPolicy: .never)
                let seconds = try measureSeconds {
                    for _ in 0..<batches { try log.append(records) }
                    try log.sync()
                }
                best = min(best, seconds)
                written = try storeBytes(of: log)
                try log.close()
            }
        }
        return AppendThroughputResult(
            name: Workload.append1kBatch100Never.rawValue, records: batches * batch, valueBytes: valueBytes, batch: batch,
            payloadBytes: batches * batch * valueBytes, storeBytes: written, seconds: best, referenceSeconds: bestReference)
    }

    /// One `append` call per record, `SyncPolicy.never`, no final sync; against
    /// raw 1 MiB pwrites of the bytes the log wrote.
    public static func single(_ configuration: BenchConfiguration) throws -> AppendThroughputResult {
        let valueBytes = configuration.recordBytes(default: 100)
        let count = max(configuration.bytes / valueBytes, 1)
        let record = benchRecords(count: 1, valueBytes: valueBytes)[0]
        var best = Double.infinity
        var bestReference = Double.infinity
        var written = 0
        for _ in 0..<max(configuration.rounds, 1) {
            try withBenchDirectory(in: configuration.directory) { directory in
                let log = try openBenchLog(in: directory, syncPolicy: .never)
                let seconds = try measureSeconds {
                    for _ in 0..<count { try log.append(record) }
                }
                best = min(best, seconds)
                try log.flush()
                written = try storeBytes(of: log)
                try log.close()
                bestReference = min(
                    bestReference,
                    try RawFileReference.sequentialWrite(at: directory.file("raw"), totalBytes: written, sync: false))
            }
        }
        return AppendThroughputResult(
            name: Workload.append100bSingleNever.rawValue, records: count, valueBytes: valueBytes, batch: 1,
            payloadBytes: count * valueBytes, storeBytes: written, seconds: best, referenceSeconds: bestReference)
    }

    /// Batches under `SyncPolicy.always` from one appender (one fdatasync per
    /// batch); against pwrite + fdatasync of equally sized batches.
    public static func synced(_ configuration: BenchConfiguration) throws -> AppendThroughputResult {
        let valueBytes = configuration.recordBytes(default: 100)
        let batch = configuration.batch(default: 100)
        let batches = max(configuration.syncedRecords / batch, 1)
        let records = benchRecords(count: batch, valueBytes: valueBytes)
        var best = Double.infinity
        var bestReference = Double.infinity
        var written = 0
        for _ in 0..<max(configuration.rounds, 1) {
            try withBenchDirectory(in: configuration.directory) { directory in
                let log = try openBenchLog(in: directory, syncPolicy: .always)
                let seconds = try measureSeconds {
                    for _ in 0..<batches { try log.append(records) }
                }
                best = min(best, seconds)
                written = try storeBytes(of: log)
                try log.close()
                bestReference = min(
                    bestReference,
                    try RawFileReference.syncedBatches(
                        at: directory.file("raw"), batchBytes: max(written / batches, 1), batches: batches))
            }
        }
        return AppendThroughputResult(
            name: Workload.append100bBatch100Always.rawValue, records: batches * batch, valueBytes: valueBytes, batch: batch,
            payloadBytes: batches * batch * valueBytes, storeBytes: written, seconds: best, referenceSeconds: bestReference)
    }
}
