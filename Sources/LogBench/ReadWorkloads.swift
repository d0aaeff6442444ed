import LogStore
import SystemPackage

/// `read-sequential-1k`: the whole log through `forEachRecord` (zero-copy
/// views, every batch CRC-checked), against raw preads of its store files.
public struct SequentialReadResult: Sendable {
    public var records: Int
    public var valueBytes: Int
    public var payloadBytes: Int
    public var storeBytes: Int
    public var maxBytesPerCall: Int
    public var seconds: Double
    public var referenceSeconds: Double
    public var payloadGigabytesPerSecond: Double { Double(payloadBytes) / seconds / 1e9 }
    public var referenceGigabytesPerSecond: Double { Double(storeBytes) / referenceSeconds / 1e9 }

    public var report: BenchReport {
        BenchReport(
            workload: Workload.readSequential1k.rawValue,
            figure: Figure("log forEachRecord, payload", payloadGigabytesPerSecond, "GB/s"),
            reference: Figure("raw pread 1 MiB blocks of the store files", referenceGigabytesPerSecond, "GB/s"),
            target: Target(.figure, .atLeast, 2, "GB/s"),
            details: [
                Figure("records/s", Double(records) / seconds, "records/s"), Figure("seconds", seconds, "s"),
                Figure("payload", Double(payloadBytes) / 1_048_576, "MiB"),
            ],
            setup:
                "\(valueBytes) B values in batches of 100, in page cache; forEachRecord maxBytes \(NumberText.bytes(maxBytesPerCall)) a call"
        )
    }
}

/// `read-random-1k`: `read(at:)` of uniformly random offsets of a log of
/// single-record batches, each timed; against preads of the same batches.
public struct RandomReadResult: Sendable {
    public var reads: Int
    public var records: Int
    public var valueBytes: Int
    /// Nanoseconds, sorted.
    public var latencies: [UInt64]
    public var referenceLatencies: [UInt64]
    public var referenceDescription: String

    public var p50Microseconds: Double { Self.percentile(latencies, 0.50) }
    public var p99Microseconds: Double { Self.percentile(latencies, 0.99) }

    static func percentile(_ sorted: [UInt64], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let index = min(Int((Double(sorted.count) * fraction).rounded(.up)) - 1, sorted.count - 1)
        return Double(sorted[max(index, 0)]) / 1000
    }

    public var report: BenchReport {
        let mean = latencies.isEmpty ? 0 : Double(latencies.reduce(0, +)) / Double(latencies.count) / 1000
        return BenchReport(
            workload: Workload.readRandom1k.rawValue,
            figure: Figure("log read(at:) p99", p99Microseconds, "us"),
            reference: Figure(referenceDescription + " p99", Self.percentile(referenceLatencies, 0.99), "us"),
            target: Target(.figure, .atMost, 10, "us"),
            details: [
                Figure("p50", p50Microseconds, "us"), Figure("p99.9", Self.percentile(latencies, 0.999), "us"),
                Figure("mean", mean, "us"), Figure("reference p50", Self.percentile(referenceLatencies, 0.50), "us"),
            ],
            setup:
                "\(NumberText.grouped(Int64(reads))) random reads over \(NumberText.grouped(Int64(records))) records of \(valueBytes) B, one record a batch, in page cache"
        )
    }
}

public enum ReadWorkloads {
    /// Writes `bytes` of records in batches, then reads them all back with
    /// `forEachRecord`, touching one byte of every value.
    public static func sequential(_ configuration: BenchConfiguration) throws -> SequentialReadResult {
        let valueBytes = configuration.recordBytes(default: 1024)
        let batch = configuration.batch(default: 100)
        let batches = max(configuration.bytes / (valueBytes * batch), 1)
        let records = benchRecords(count: batch, valueBytes: valueBytes)
        let maxBytesPerCall = 1 << 20
        return try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .never)
            for _ in 0..<batches { try log.append(records) }
            try log.sync()
            let segments = try log.segments()
            let paths = segments.map { directory.file("log").appending(storeFileName($0.baseOffset)) }
            // Page the files in before timing anything.
            let warm = try RawFileReference.sequentialRead(paths)
            var best = Double.infinity
            var bestReference = Double.infinity
            var payload = 0
            var checksum: UInt8 = 0
            for _ in 0..<max(configuration.rounds, 1) {
                bestReference = min(bestReference, try RawFileReference.sequentialRead(paths).seconds)
                payload = 0
                let seconds = try measureSeconds {
                    var next = log.lowestOffset
                    let end = log.nextOffset
                    while next < end {
                        next = try log.forEachRecord(from: next, maxBytes: maxBytesPerCall) { record in
                            if let value = record.value, value.count > 0 {
                                payload += value.count
                                checksum ^= value[value.count - 1]
                            }
                            return true
                        }
                    }
                }
                best = min(best, seconds)
            }
            opaqueUse(checksum)
            try log.close()
            guard payload == batches * batch * valueBytes else {
                throw BenchError("read back \(payload) payload bytes, appended \(batches * batch * valueBytes)")
            }
            return SequentialReadResult(
                records: batches * batch, valueBytes: valueBytes, payloadBytes: payload, storeBytes: warm.bytes,
                maxBytesPerCall: maxBytesPerCall, seconds: best, referenceSeconds: bestReference)
        }
    }

    /// Writes a log of single-record batches, then times `read(at:)` of random offsets.
    public static func random(_ configuration: BenchConfiguration) throws -> RandomReadResult {
        let valueBytes = configuration.recordBytes(default: 1024)
        let count = max(configuration.randomReadLogBytes / valueBytes, 1)
        let record = benchRecords(count: 1, valueBytes: valueBytes)[0]
        return try withBenchDirectory(in: configuration.directory) { directory in
            let log = try openBenchLog(in: directory, syncPolicy: .never)
            for _ in 0..<count { try log.append(record) }
            try log.flush()
            let segments = try log.segments()
            let paths = segments.map { directory.file("log").appending(storeFileName($0.baseOffset)) }
            _ = try RawFileReference.sequentialRead(paths)

            var generator = SeededGenerator(seed: 0x5EED)
            let offsets = (0..<configuration.randomReads).map { _ in Int64.random(in: 0..<Int64(count), using: &generator) }
            // One untimed pass over some offsets, so that first-touch costs
            // (index pages, allocator arenas) are not in the percentiles.
            for offset in offsets.prefix(10_000) { _ = try log.read(at: offset) }
            var latencies = [UInt64](repeating: 0, count: offsets.count)
            var checksum = 0
            for (index, offset) in offsets.enumerated() {
                let start = monotonicNanoseconds()
                let stored = try log.read(at: offset)
                latencies[index] = monotonicNanoseconds() - start
                checksum &+= stored.value?.count ?? 0
            }
            opaqueUse(checksum)
            latencies.sort()

            // Reference: pread of the same batches, when they are all the same
            // size in one segment (true unless a record size override rolls it).
            var reference: [UInt64] = []
            var description: String
            if segments.count == 1, let first = segments.first, first.batchCount == count, first.storeBytes % Int64(count) == 0 {
                let batchBytes = Int(first.storeBytes / Int64(count))
                reference = try RawFileReference.randomReads(
                    paths[0], positions: offsets.map { $0 * Int64(batchBytes) }, length: batchBytes)
                description = "raw pread of the same \(batchBytes) B batches"
            } else {
                let blocks = max((segments.first?.storeBytes ?? 0) / Int64(valueBytes), 1)
                reference = try RawFileReference.randomReads(
                    paths[0], positions: offsets.map { ($0 % blocks) * Int64(valueBytes) }, length: valueBytes)
                description = "raw pread of \(valueBytes) B at random positions"
            }
            reference.sort()
            try log.close()
            return RandomReadResult(
                reads: offsets.count, records: count, valueBytes: valueBytes, latencies: latencies, referenceLatencies: reference,
                referenceDescription: description)
        }
    }

    /// A segment's store file name (the format's 20-digit zero padding).
    static func storeFileName(_ baseOffset: Int64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".store"
    }
}
