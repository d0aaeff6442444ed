import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct RetentionPolicyTests {
    @Test func retentionBytesKeepsTheLogUnderTheLimitWhenSegmentsRoll() throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never, retentionBytes: 4096)
        let log = try Log.open(directory: directory.log(), options: options)
        for number in 0..<500 { try log.append(Record("record number \(number)")) }
        let segments = try log.segments()
        let sealedBytes = segments.filter { !$0.isActive }.reduce(Int64(0)) { $0 + $1.storeBytes }
        let activeBytes = segments.last?.storeBytes ?? 0
        #expect(sealedBytes + activeBytes <= 4096 + 1024)
        #expect(log.lowestOffset > 0)
        #expect(log.nextOffset == 500)
        // What is left is intact and contiguous.
        let kept = try log.read(from: log.lowestOffset, maxRecords: 1000, maxBytes: 1 << 20)
        #expect(kept.map(\.offset) == Array(log.lowestOffset..<500))
        let error = #expect(throws: LogStoreError.self) { try log.read(at: 0) }
        #expect(error?.code == .offsetOutOfRange)
        #expect(error?.message.contains("below the oldest retained offset \(log.lowestOffset) (next offset 500)") == true)
        try log.close()
    }

    @Test func retentionByTimeDeletesSegmentsWhoseNewestRecordIsOld() throws {
        let directory = try TemporaryDirectory()
        let now: Int64 = 1_795_000_000_000
        let hour: Int64 = 3_600_000
        let options = LogOptions(maxSegmentBytes: 1024, syncPolicy: .never)
        let log = try Log.open(directory: directory.log(), options: options)
        for number in 0..<300 {
            // The first 200 records are two days old, the rest recent.
            let timestamp = number < 200 ? now - 48 * hour : now - 60_000
            try log.append(Record(key: nil, value: Array("record \(number)".utf8), timestamp: timestamp))
        }
        try log.close()
        var retained = options
        retained.retentionMilliseconds = 24 * hour
        let reopened = try Log.open(directory: directory.log(), options: retained)
        let deleted = try reopened.applyRetention(now: now)
        #expect(deleted > 0)
        #expect(reopened.lowestOffset <= 200)
        #expect(reopened.lowestOffset > 100)
        // A segment with any recent record stays.
        #expect(try reopened.read(at: 200).offset == 200)
        try reopened.close()
    }

    @Test func theActiveSegmentIsNeverDeleted() throws {
        let directory = try TemporaryDirectory()
        let options = LogOptions(syncPolicy: .never, retentionBytes: 0, retentionMilliseconds: 0)
        let log = try Log.open(directory: directory.log(), options: options)
        for number in 0..<10 { try log.append(Record(key: nil, value: [UInt8(number)], timestamp: 1)) }
        #expect(try log.applyRetention(now: 10_000) == 0)
        #expect(try log.read(from: 0, maxRecords: 100).count == 10)
        try log.close()
    }
}

@Suite struct LogConfigTests {
    @Test func roundTripsAndValidates() throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.log().string, withIntermediateDirectories: true)
        var config = try LogConfig.load(logDirectory: directory.log())
        #expect(config == LogConfig())
        try config.set("retention.bytes", to: "1000000")
        try config.set("retention.ms", to: "86400000")
        try config.set("segment.bytes", to: "4096")
        try config.save(logDirectory: directory.log())
        let loaded = try LogConfig.load(logDirectory: directory.log())
        #expect(loaded == LogConfig(retentionBytes: 1_000_000, retentionMilliseconds: 86_400_000, segmentBytes: 4096))
        let options = loaded.applied(to: LogOptions())
        #expect(options.maxSegmentBytes == 4096)
        #expect(options.retentionBytes == 1_000_000)
        try config.set("retention.bytes", to: "-1")
        #expect(config.retentionBytes == nil)

        // Compression and compaction settings.
        try config.set("compression.type", to: "gzip")
        try config.set("compression.gzip.level", to: "6")
        try config.set("cleanup.policy", to: "compact")
        try config.set("delete.retention.ms", to: "1000")
        try config.save(logDirectory: directory.log())
        let compacting = try LogConfig.load(logDirectory: directory.log()).applied(to: LogOptions())
        #expect(compacting.compression == .gzip(level: 6))
        #expect(compacting.cleanupPolicy == .compact)
        #expect(compacting.deleteRetentionMilliseconds == 1000)
        #expect(LogOptions().compression == .none && LogOptions().cleanupPolicy == .delete)
        #expect(LogOptions().deleteRetentionMilliseconds == 86_400_000)

        let cases: [(String, String, String)] = [
            ("retention.bytes", "lots", "must be a whole number"),
            ("retention.ms", "-5", "must be -1 (no limit) or at least 0"),
            ("segment.bytes", "10", "at least 1024"),
            ("cleanup.policy", "sometimes", "cleanup.policy must be delete or compact"),
            ("compression.type", "snappy", "compression.type must be none or gzip"),
            ("compression.gzip.level", "0", "must be 1...9"),
            ("delete.retention.ms", "-1", "at least 0"),
            ("min.compaction.lag.ms", "0", "unknown setting 'min.compaction.lag.ms'"),
        ]
        for (key, value, message) in cases {
            let error = #expect(throws: LogStoreError.self) { try config.set(key, to: value) }
            #expect(error?.message.contains(message) == true, "\(key)=\(value): \(String(describing: error))")
        }
        try writeBytes(Array("retention.bytes=12\nnonsense\n".utf8), to: directory.log().appending("config"))
        let error = #expect(throws: LogStoreError.self) { try LogConfig.load(logDirectory: directory.log()) }
        #expect(error?.message.contains("line 2") == true)
    }
}
