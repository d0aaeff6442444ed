import CrashStateSupport
import Foundation
import LogStore
import SystemPackage
import Testing

@testable import PostgresCDC

/// Every power-loss state of an ingester's restart: the partial transaction
/// a crash left is cut (`IngestCheckpoint.recover`), then Postgres's resent
/// transaction is appended whole. In every state, after the recovery the
/// ingester runs on start, the log ends on a whole transaction, holds the
/// first transaction whole and the second at most once.
@Suite struct IngestCrashStateTests {
    enum Mark: Sendable {
        case recovered
        case resentDurable
    }

    static let options = LogOptions(maxSegmentBytes: 500, maxIndexBytes: 100, syncPolicy: .always)

    static func record(commit: String, ordinal: Int, end: String? = nil, sequence: Int? = nil) -> Record {
        IngestCheckpointTests.record(commit: commit, ordinal: ordinal, end: end, sequence: sequence)
    }

    /// The second transaction: `count` records, the last carrying its end when `whole`.
    static func second(whole: Bool, count: Int = 8) -> [Record] {
        (0..<count).map { ordinal in
            whole && ordinal == count - 1
                ? record(commit: "0/30", ordinal: ordinal, end: "0/40", sequence: 2) : record(commit: "0/30", ordinal: ordinal)
        }
    }

    @Test func aPartialTransactionCutAtRestartThenResent() throws {
        // In memory when there is /dev/shm: hundreds of small logs are written and opened.
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : FileManager.default.temporaryDirectory.path
        let root = FilePath(base).appending("ingest-crash-\(UUID().uuidString)")
        let scratch = FilePath(base).appending("ingest-crash-states-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(atPath: root.string)
            try? FileManager.default.removeItem(atPath: scratch.string)
        }
        try FileManager.default.createDirectory(atPath: root.string, withIntermediateDirectories: true)
        let logPath = root.appending("log")
        let prepared = try Log.open(directory: logPath, options: Self.options)
        try prepared.append([
            Self.record(commit: "0/10", ordinal: 0), Self.record(commit: "0/10", ordinal: 1, end: "0/20", sequence: 1),
        ])
        // The crashed run's partial second transaction, across segment rolls.
        for record in Self.second(whole: false, count: 6) { try prepared.append(record) }
        try prepared.close()
        let first = IngestCheckpoint(commitLSN: LSN(0x10), endLSN: LSN(0x20), transactionCount: 1, offset: 1)
        let resent = IngestCheckpoint(commitLSN: LSN(0x30), endLSN: LSN(0x40), transactionCount: 2, offset: 9)

        let report = try CrashStateExplorer.explore(root: root, scratch: scratch) { (recorder: FileTraceRecorder<Mark>) in
            let log = try Log.open(directory: logPath, options: Self.options)
            #expect(try IngestCheckpoint.recover(log, logger: .init(label: "test")) == first)
            recorder.mark(.recovered)
            try log.append(Self.second(whole: true))
            recorder.mark(.resentDurable)
            try log.close()
        } check: { directory, marks, _ in
            let log = try Log.open(directory: directory.appending("log"), options: Self.options)
            defer { try? log.close() }
            // What the ingester does on start.
            let checkpoint = try IngestCheckpoint.recover(log, logger: .init(label: "test"))
            let expected = marks.contains { if case .resentDurable = $0 { true } else { false } } ? [resent] : [first, resent]
            guard let checkpoint, expected.contains(checkpoint) else {
                throw CrashInvariantViolation("checkpoint \(String(describing: checkpoint)), expected one of \(expected)")
            }
            let records = try log.read(from: 0, maxRecords: 100)
            let commits = records.map { record in
                record.headers.first { $0.key == CDCHeader.commitLSN }.flatMap { $0.value }.map {
                    String(decoding: $0, as: UTF8.self)
                }
            }
            let firstWhole = commits.prefix(2) == ["0/10", "0/10"]
            let secondCount = commits.count { $0 == "0/30" }
            guard firstWhole, secondCount == 0 || secondCount == 8, records.count == 2 + secondCount else {
                throw CrashInvariantViolation("the log holds \(commits) after recovery")
            }
            try log.close()
            let verified = try Log.verify(directory: directory.appending("log"))
            guard verified.isClean else { throw CrashInvariantViolation("verify: \(verified.problems)") }
        }
        print("crash states, ingest restart: \(report)")
        #expect(report.violationCount == 0, "\(report)")
        #expect(report.distinctStates > 20)
    }
}
