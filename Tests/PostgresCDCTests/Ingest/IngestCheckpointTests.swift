import Foundation
import LogStore
import SystemPackage
import Testing

@testable import PostgresCDC

@Suite("Ingest checkpoint: the log ends on a whole transaction")
struct IngestCheckpointTests {
    /// A change record as the ingester writes it; the last of a transaction has `end` and `sequence`.
    static func record(commit: String, ordinal: Int, end: String? = nil, sequence: Int? = nil) -> Record {
        var headers = [
            RecordHeader(CDCHeader.operation, "c"), RecordHeader(CDCHeader.commitLSN, commit),
            RecordHeader(CDCHeader.transactionOrdinal, String(ordinal)),
        ]
        if let end, let sequence {
            headers += [
                RecordHeader(CDCHeader.transactionEndLSN, end), RecordHeader(CDCHeader.transactionSequence, String(sequence)),
            ]
        }
        return Record(key: nil, value: Array("{}".utf8), headers: headers)
    }

    private func withLog(_ body: (Log) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("checkpoint-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = try Log.open(directory: FilePath(directory), options: LogOptions(syncPolicy: .never))
        defer { try? log.close() }
        try body(log)
    }

    @Test("an empty log has no checkpoint")
    func empty() throws {
        try withLog { log in
            let read = try IngestCheckpoint.read(from: log)
            let recovered = try IngestCheckpoint.recover(log, logger: .init(label: "test"))
            #expect(read == nil)
            #expect(recovered == nil)
        }
    }

    @Test("a trailing partial transaction is cut; the checkpoint is the transaction before it")
    func partialTail() throws {
        try withLog { log in
            try log.append([
                Self.record(commit: "0/10", ordinal: 0), Self.record(commit: "0/10", ordinal: 1, end: "0/20", sequence: 1),
            ])
            try log.append([Self.record(commit: "0/30", ordinal: 0), Self.record(commit: "0/30", ordinal: 1)])
            try log.append([Self.record(commit: "0/30", ordinal: 2)])
            let expected = IngestCheckpoint(commitLSN: LSN(0x10), endLSN: LSN(0x20), transactionCount: 1, offset: 1)
            let read = try IngestCheckpoint.read(from: log)
            #expect(read == expected)
            #expect(log.nextOffset == 5, "read must not change the log")
            let recovered = try IngestCheckpoint.recover(log, logger: .init(label: "test"))
            #expect(recovered == expected)
            #expect(log.nextOffset == 2)
        }
    }

    @Test("a log whose records lack the ingest headers is refused")
    func foreignLog() throws {
        try withLog { log in
            try log.append(Record("not from ingest"))
            #expect(throws: IngestError.self) { try IngestCheckpoint.recover(log, logger: .init(label: "test")) }
            #expect(log.nextOffset == 1, "nothing was cut")
        }
    }
}
