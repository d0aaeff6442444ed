import LogStore

/// `compact-1m-keys`: `Log.compact` over sealed segments whose records use
/// 1M distinct keys, with a key map of 1M keys (one pass).
public enum CompactionWorkload {
    /// Appends records (100-byte values, keys drawn from 1M) into 32 MiB
    /// segments, then times one compaction. The figure is MB/s of input (the
    /// sealed segments' batch bytes before); the reference, in the same run,
    /// reads every record of the same segments once (`forEachRecord`, CRC-checked).
    public static func run(_ configuration: BenchConfiguration) throws -> BenchReport {
        let keys = 1 << 20
        let valueBytes = configuration.recordBytes(default: 100)
        let batch = configuration.batch(default: 100)
        let inputTarget = min(configuration.bytes, 256 << 20)
        let recordCount = max(inputTarget / (valueBytes + 30), batch)
        return try withBenchDirectory(in: configuration.directory) { directory in
            let log = try Log.open(
                directory: directory.file("log"), options: LogOptions(maxSegmentBytes: 32 << 20, syncPolicy: .never))
            defer { try? log.close() }
            var random = SeededGenerator(seed: 7)
            var value = [UInt8](repeating: 0, count: valueBytes)
            for index in 0..<valueBytes { value[index] = UInt8(truncatingIfNeeded: index &* 131 &+ 17) }
            var records: [Record] = []
            records.reserveCapacity(batch)
            for number in 0..<recordCount {
                // Every key once first (so the map really holds 1M keys), then random updates.
                let key = number < keys ? number : Int(random.next() % UInt64(keys))
                records.append(Record(key: Array("key-\(key)".utf8), value: value))
                if records.count == batch {
                    try log.append(records)
                    records.removeAll(keepingCapacity: true)
                }
            }
            if !records.isEmpty { try log.append(records) }
            try log.sync()
            let sealed = try log.segments().filter { !$0.isActive }
            guard let end = sealed.last?.nextOffset else { throw BenchError("compact-1m-keys: no sealed segment; raise --bytes") }
            let referenceSeconds = try measureSeconds {
                var offset = log.lowestOffset
                while offset < end {
                    offset = try log.forEachRecord(from: offset, maxBytes: 4 << 20) { $0.offset + 1 < end }
                }
            }
            var report = CompactionReport()
            let seconds = try measureSeconds { report = try log.compact(keyMapCapacity: keys) }
            let input = Double(report.bytesBefore)
            let keyMapPass = Figure("key map pass", input / report.keyMapSeconds / 1e6, "MB/s")
            let cleanPass = Figure("clean pass", input / report.cleanSeconds / 1e6, "MB/s")
            return BenchReport(
                workload: Workload.compact1mKeys.rawValue,
                figure: Figure("compaction, input (sealed batch bytes)", input / seconds / 1e6, "MB/s"),
                reference: Figure("forEachRecord over the same segments", input / referenceSeconds / 1e6, "MB/s"),
                // Issue 12's target.
                target: Target(.figure, .atLeast, 400, "MB/s"),
                details: [
                    Figure("seconds", seconds, "s"),
                    keyMapPass,
                    Figure("key map seconds", report.keyMapSeconds, "s"),
                    cleanPass,
                    Figure("clean seconds", report.cleanSeconds, "s"), Figure("input", input / 1_048_576, "MiB"),
                    Figure("output", Double(report.bytesAfter) / 1_048_576, "MiB"),
                    Figure("records before", Double(report.recordsBefore), "records"),
                    Figure("records after", Double(report.recordsAfter), "records"), Figure("passes", Double(report.passes), "x"),
                    Figure("segments rewritten", Double(report.segmentsRewritten), "segments"),
                ],
                summary: [keyMapPass, cleanPass],
                setup:
                    "\(recordCount) records of \(valueBytes) B values, keys from 1M (each once, then random), 32 MiB segments, "
                    + "uncompressed, in page cache; key map of 1M keys (32 MiB) and 1 bit an offset for superseded records; "
                    + "fsyncs of the rewritten segments included")
        }
    }
}
