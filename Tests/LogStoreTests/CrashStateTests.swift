import CrashStateSupport
import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Every power-loss state of LogStore's operations, built from their traced
/// file operations (`CrashStateExplorer`) and opened with the real
/// `Log.open`. Each test prints how many states it explored.
@Suite struct CrashStateTests {
    /// What a workload notes after an operation returned.
    enum Mark: Sendable {
        /// An append with `.always` returned: durable at that offset.
        case durable(offset: Int64, value: String)
        /// `truncate(from:)` is about to be called: records from there may go.
        case truncating(from: Int64)
        /// `truncate(from:)` returned.
        case truncated(from: Int64)
        /// A consumer group's commit returned.
        case committed(Int64)
        /// `LogConfig.save` returned with this retention.
        case configSaved(retentionBytes: Int64)
        /// `Log.delete` returned.
        case deleted
    }

    /// Small segments and indexes, so that a few records roll segments and fill indexes.
    static let options = LogOptions(maxSegmentBytes: 400, maxIndexBytes: 100, syncPolicy: .always)

    static func value(_ offset: Int64, _ generation: String = "v") -> String {
        "\(generation)\(offset)-" + String(repeating: "x", count: 40)
    }

    /// What every state of a log workload must satisfy.
    struct LogExpectations {
        /// Every value ever written at each offset.
        var written: [Int64: Set<String>] = [:]
        /// Offsets at or above this may be gone (below: as `durable` says).
        var mayLoseFrom: Int64 = .max
        /// Offsets below this may be gone (retention).
        var mayLoseBelow: Int64 = 0
        /// Whether records may be missing between others (compaction).
        var gapsAllowed = false
    }

    /// Opens the log of a crash state and checks it: it opens, reads back only bytes that
    /// were written at their offsets, holds every durable record at its
    /// offset, closes, verifies clean and opens again.
    static func checkLog(
        _ directory: FilePath, marks: ArraySlice<Mark>, expectations: LogExpectations, notes: inout [String: Int]
    ) throws {
        var durable: [Int64: String] = [:]
        var truncatedFrom: Int64?
        for mark in marks {
            switch mark {
            case .durable(let offset, let value): durable[offset] = value
            case .truncating(let from):
                durable = durable.filter { $0.key < from }
            case .truncated(let from):
                truncatedFrom = from
            case .committed, .configSaved, .deleted: break
            }
        }
        guard FileSystem.exists(directory) else {
            guard durable.isEmpty else {
                throw CrashInvariantViolation("the log directory is gone with \(durable.count) durable records")
            }
            notes["log not there yet", default: 0] += 1
            return
        }
        let log: Log
        do {
            log = try Log.open(directory: directory, options: options)
        } catch let error as LogStoreError where error.code == .corruption && error.path != nil {
            // Allowed by the contract (a named corruption, no wrong bytes), but
            // none of these workloads may leave one: a power loss must not
            // make a log refuse to open.
            throw CrashInvariantViolation("refused to open: \(error)")
        }
        var previous: Int64?
        var seen: [Int64: String] = [:]
        _ = try log.forEachRecord(from: log.lowestOffset, maxBytes: 1 << 20) { record in
            let value = record.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let offset = record.offset
            guard expectations.written[offset]?.contains(value) == true else {
                throw CrashInvariantViolation("offset \(offset) holds \(value.prefix(12))…, never written there")
            }
            if let previous, !expectations.gapsAllowed, offset != previous + 1 {
                throw CrashInvariantViolation("offset \(offset) follows \(previous)")
            }
            if let truncatedFrom, offset >= truncatedFrom, !value.hasPrefix("new") {
                throw CrashInvariantViolation("offset \(offset) still holds a record truncated away")
            }
            previous = offset
            seen[offset] = value
            return true
        }
        for (offset, value) in durable.sorted(by: { $0.key < $1.key })
        where offset >= expectations.mayLoseBelow && offset < expectations.mayLoseFrom {
            guard seen[offset] == value else {
                throw CrashInvariantViolation(
                    "durable record \(offset) is \(seen[offset].map { "\($0.prefix(12))…" } ?? "missing")")
            }
        }
        try log.close()
        let report = try Log.verify(directory: directory)
        guard report.isClean else { throw CrashInvariantViolation("verify after recovery: \(report.problems)") }
        let again = try Log.open(directory: directory, options: options)
        guard again.nextOffset == (previous.map { $0 + 1 } ?? again.nextOffset) || expectations.gapsAllowed else {
            throw CrashInvariantViolation(
                "reopened log ends at \(again.nextOffset), read ended at \(String(describing: previous))")
        }
        try again.close()
    }

    static func explore(
        _ name: String, prepare: (FilePath) throws -> Void = { _ in }, maxStates: Int = 20_000,
        workload: (FilePath, FileTraceRecorder<Mark>) throws -> Void,
        check: (FilePath, ArraySlice<Mark>, inout [String: Int]) throws -> Void
    ) throws -> CrashStateExplorer.Report {
        let root = try TemporaryDirectory(inMemory: true)
        let scratch = try TemporaryDirectory(inMemory: true)
        try prepare(root.path)
        let report = try CrashStateExplorer.explore(
            root: root.path, scratch: scratch.path, maxStates: maxStates,
            workload: { try workload(root.path, $0) }, check: check)
        print("crash states, \(name): \(report)")
        #expect(report.violationCount == 0, "\(name): \(report)")
        #expect(report.distinctStates > 0)
        return report
    }

    @Test func appendsWithSyncAlwaysAcrossSegmentRolls() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<14 { expectations.written[offset] = [Self.value(offset)] }
        let report = try Self.explore("appends across rolls") { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: Self.options)
            try Self.appendDurably(Int64(0)..<14, to: log, recorder: recorder)
            try log.close()
        } check: { directory, marks, notes in
            try Self.checkLog(directory.appending("log"), marks: marks, expectations: expectations, notes: &notes)
        }
        // The indexes are written through a shared mapping, not write(2): the trace has their stores too.
        let indexes = Set(
            report.trace.compactMap { step -> Int? in
                if case .createFile(let path, let inode) = step, path.hasSuffix(".index") { return inode }
                return nil
            })
        let indexWrites = report.trace.filter { step in
            if case .write(let inode, _, _) = step { return indexes.contains(inode) }
            return false
        }
        #expect(indexes.count >= 3)
        #expect(indexWrites.count >= 14)
    }

    /// Batches of records under `.never`, acknowledged by `sync()`: more
    /// unsynced writes at each point, each a candidate to be lost or torn.
    @Test func batchesAcknowledgedBySync() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<60 { expectations.written[offset] = [Self.value(offset)] }
        var options = Self.options
        options.maxSegmentBytes = 2048
        options.syncPolicy = .never
        let never = options
        _ = try Self.explore("batches acknowledged by sync()") { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: never)
            for first in stride(from: Int64(0), to: 60, by: 12) {
                for batch in stride(from: first, to: first + 12, by: 4) {
                    try log.append((batch..<batch + 4).map { Record(Self.value($0)) })
                    try log.flush()
                }
                try log.sync()
                for offset in first..<first + 12 { recorder.mark(.durable(offset: offset, value: Self.value(offset))) }
            }
            try log.close()
        } check: { directory, marks, notes in
            try Self.checkLog(directory.appending("log"), marks: marks, expectations: expectations, notes: &notes)
        }
    }

    @Test func theFirstAppendIntoANewLogInANewDataDirectory() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<3 { expectations.written[offset] = [Self.value(offset)] }
        _ = try Self.explore("first append into a new log") { root, recorder in
            try Log.createDirectory(root.appending("data"))
            let log = try Log.open(directory: root.appending("data/log"), options: Self.options)
            try Self.appendDurably(Int64(0)..<3, to: log, recorder: recorder)
            try log.close()
        } check: { directory, marks, notes in
            try Self.checkLog(directory.appending("data/log"), marks: marks, expectations: expectations, notes: &notes)
        }
    }

    /// Appends `value(offset, generation)` for each offset one by one (each
    /// acknowledged as durable under `.always`) and marks each as durable.
    static func appendDurably(
        _ offsets: Range<Int64>, generation: String = "v", to log: Log, recorder: FileTraceRecorder<Mark>
    ) throws {
        for offset in offsets {
            let written = try log.append(Record(Self.value(offset, generation)))
            recorder.mark(.durable(offset: written, value: Self.value(offset, generation)))
        }
    }

    /// Durable marks for records made before the workload (`prepareLog`).
    static func durable(_ offsets: Range<Int64>) -> ArraySlice<Mark> {
        ArraySlice(offsets.map { Mark.durable(offset: $0, value: Self.value($0)) })
    }

    /// A closed log of `count` records (values `value(offset)`), made before recording: durable.
    static func prepareLog(_ root: FilePath, count: Int64, options: LogOptions = options, key: (Int64) -> String? = { _ in nil })
        throws
    {
        let log = try Log.open(directory: root.appending("log"), options: options)
        for offset in Int64(0)..<count {
            _ = try log.append(Record(Self.value(offset), key: key(offset)))
        }
        try log.close()
    }

    @Test func retentionDeletingSegments() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<30 { expectations.written[offset] = [Self.value(offset)] }
        var retained = Int64(0)
        var options = Self.options
        options.retentionBytes = 800
        let retention = options
        _ = try Self.explore("retention") { root in
            try Self.prepareLog(root, count: 30)
        } workload: { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: retention)
            let deleted = try log.applyRetention()
            retained = log.lowestOffset
            #expect(deleted > 0)
            try log.close()
        } check: { directory, marks, notes in
            var expected = expectations
            expected.mayLoseBelow = retained
            // Every record was durable before the workload.
            let all = Self.durable(Int64(0)..<30)
            try Self.checkLog(directory.appending("log"), marks: all, expectations: expected, notes: &notes)
        }
        #expect(retained > 0)
    }

    @Test func truncationThenAppends() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<20 { expectations.written[offset] = [Self.value(offset)] }
        for offset in Int64(7)..<12 { expectations.written[offset, default: []].insert(Self.value(offset, "new")) }
        _ = try Self.explore("truncate(from:) and appends") { root in
            try Self.prepareLog(root, count: 20)
        } workload: { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: Self.options)
            recorder.mark(.truncating(from: 7))
            try log.truncate(from: 7)
            recorder.mark(.truncated(from: 7))
            try Self.appendDurably(Int64(7)..<12, generation: "new", to: log, recorder: recorder)
            try log.close()
        } check: { directory, marks, notes in
            let before = Self.durable(Int64(0)..<20)
            try Self.checkLog(
                directory.appending("log"), marks: before + marks, expectations: expectations, notes: &notes)
        }
    }

    @Test func compactionReplacingSegments() throws {
        var expectations = LogExpectations()
        expectations.gapsAllowed = true
        let keys = 4
        for offset in Int64(0)..<24 { expectations.written[offset] = [Self.value(offset)] }
        var options = Self.options
        options.cleanupPolicy = .compact
        let compacting = options
        var rewritten = 0
        _ = try Self.explore("compaction") { root in
            try Self.prepareLog(root, count: 24, options: compacting) { "k\($0 % Int64(keys))" }
        } workload: { root, _ in
            let log = try Log.open(directory: root.appending("log"), options: compacting)
            rewritten = try log.compact().segmentsRewritten
            try log.close()
        } check: { directory, marks, notes in
            try Self.checkLog(directory.appending("log"), marks: marks, expectations: expectations, notes: &notes)
            // The latest value of every key is there, whatever compaction did.
            let log = try? Log.open(directory: directory.appending("log"), options: compacting)
            guard let log else { return }
            defer { try? log.close() }
            for offset in Int64(24 - keys)..<24 {
                guard let record = try? log.read(at: offset), record.offset == offset,
                    String(decoding: record.value ?? [], as: UTF8.self) == Self.value(offset)
                else {
                    throw CrashInvariantViolation("the latest value of key k\(offset % Int64(keys)) (offset \(offset)) is gone")
                }
            }
        }
        #expect(rewritten > 0)
    }

    @Test func recoveryOfACrashedLogThenAppends() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<14 { expectations.written[offset] = [Self.value(offset)] }
        _ = try Self.explore("recovery after a crash") { root in
            try Self.prepareLog(root, count: 10)
            // As a crash leaves it: no clean-shutdown marker, a torn batch at the end of the active segment.
            let directory = root.appending("log")
            try FileManager.default.removeItem(atPath: directory.appending(Log.cleanShutdownMarker).string)
            let active = try FileManager.default.contentsOfDirectory(atPath: directory.string).filter { $0.hasSuffix(".store") }
                .max()
            let activeName = try #require(active)
            let handle = try #require(FileHandle(forWritingAtPath: directory.appending(activeName).string))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(encodeBatch([Record(Self.value(99))], baseOffset: 10, now: nowMillis()).prefix(30)))
            try handle.close()
        } workload: { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: Self.options)
            try Self.appendDurably(Int64(10)..<14, to: log, recorder: recorder)
            try log.close()
        } check: { directory, marks, notes in
            let before = Self.durable(Int64(0)..<10)
            try Self.checkLog(
                directory.appending("log"), marks: before + marks, expectations: expectations, notes: &notes)
        }
    }

    /// `Log.delete`: the whole log or nothing, and a hidden `.deleted-*`
    /// directory that `removeDeletedLogs` clears.
    @Test func deletingALog() throws {
        var expectations = LogExpectations()
        for offset in Int64(0)..<12 { expectations.written[offset] = [Self.value(offset)] }
        _ = try Self.explore("log deletion") { root in
            try Self.prepareLog(root, count: 12)
        } workload: { root, recorder in
            try Log.delete(directory: root.appending("log"))
            recorder.mark(.deleted)
        } check: { directory, marks, notes in
            let logDirectory = directory.appending("log")
            let deleted = marks.contains { if case .deleted = $0 { true } else { false } }
            guard FileSystem.exists(logDirectory) else {
                notes["log gone", default: 0] += 1
                try Log.removeDeletedLogs(in: directory)
                let left = try FileManager.default.contentsOfDirectory(atPath: directory.string)
                guard left.isEmpty else { throw CrashInvariantViolation("after removeDeletedLogs: \(left)") }
                return
            }
            guard !deleted else { throw CrashInvariantViolation("the log is back after its deletion returned") }
            // Not deleted: the whole log.
            let all = Self.durable(Int64(0)..<12)
            try Self.checkLog(logDirectory, marks: all, expectations: expectations, notes: &notes)
        }
    }

    @Test func committedOffsetsAndConfig() throws {
        _ = try Self.explore("committed offsets and config") { root in
            try Self.prepareLog(root, count: 5)
        } workload: { root, recorder in
            let log = try Log.open(directory: root.appending("log"), options: Self.options)
            for offset in Int64(1)...4 {
                try log.commitOffset(offset, group: "g")
                recorder.mark(.committed(offset))
                try LogConfig(retentionBytes: 1000 * offset).save(logDirectory: root.appending("log"))
                recorder.mark(.configSaved(retentionBytes: 1000 * offset))
            }
            try log.close()
        } check: { directory, marks, notes in
            let logDirectory = directory.appending("log")
            var lastCommit: Int64?
            var lastRetention: Int64?
            for mark in marks {
                if case .committed(let offset) = mark { lastCommit = offset }
                if case .configSaved(let bytes) = mark { lastRetention = bytes }
            }
            // A commit or save under way may be there or not: at most one step past the last acknowledged.
            let config = try LogConfig.load(logDirectory: logDirectory)
            if let retention = config.retentionBytes {
                guard retention % 1000 == 0, retention >= (lastRetention ?? 0), retention <= (lastRetention ?? 0) + 1000 else {
                    throw CrashInvariantViolation(
                        "config holds retention \(retention), last saved \(String(describing: lastRetention))")
                }
            } else if lastRetention != nil {
                throw CrashInvariantViolation("config lost: last saved \(String(describing: lastRetention))")
            }
            let log = try Log.open(directory: logDirectory, options: Self.options)
            defer { try? log.close() }
            let committed = try log.committedOffset(group: "g")?.offset
            if let committed {
                guard committed >= (lastCommit ?? 1), committed <= (lastCommit ?? 0) + 1 else {
                    throw CrashInvariantViolation(
                        "committed offset \(committed), last acknowledged \(String(describing: lastCommit))")
                }
            } else if lastCommit != nil {
                throw CrashInvariantViolation("committed offset lost: last acknowledged \(String(describing: lastCommit))")
            }
            notes["commit read back", default: 0] += committed == nil ? 0 : 1
        }
    }
}
