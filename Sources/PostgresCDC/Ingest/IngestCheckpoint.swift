import LogStore
import Logging

/// Where an ingested log stands: the last transaction stored whole.
public struct IngestCheckpoint: Sendable, Hashable {
    /// The commit LSN of the last complete transaction (or message, or the
    /// snapshot's consistent point).
    public var commitLSN: LSN
    /// The end of that transaction's commit record: a transaction whose commit
    /// LSN is below it is already in the log.
    public var endLSN: LSN
    /// Transactions stored so far (the snapshot counts as one).
    public var transactionCount: Int64
    /// The offset of that transaction's last record.
    public var offset: Int64

    public init(commitLSN: LSN, endLSN: LSN, transactionCount: Int64, offset: Int64) {
        self.commitLSN = commitLSN
        self.endLSN = endLSN
        self.transactionCount = transactionCount
        self.offset = offset
    }

    /// The position of the last record of a log, as its headers tell it.
    enum Tail: Hashable {
        case empty
        /// The last record ends a transaction.
        case complete(IngestCheckpoint)
        /// The last record is inside a transaction whose first record is at `startOffset`.
        case partial(startOffset: Int64, commitLSN: LSN)
    }

    /// Reads the checkpoint of an ingested log without changing it.
    ///
    /// - Returns: nil for an empty log.
    /// - Throws: `IngestError.notAnIngestedLog` when the last record lacks the
    ///   ingest headers; `LogStoreError` when reading fails.
    public static func read(from log: Log) throws -> IngestCheckpoint? {
        var tail = try Self.tail(of: log)
        while true {
            switch tail {
            case .empty: return nil
            case .complete(let checkpoint): return checkpoint
            case .partial(let start, _):
                // The transaction being written: the one before it is the checkpoint.
                guard start > log.lowestOffset else { return nil }
                tail = try Self.tail(of: log, at: start - 1)
            }
        }
    }

    /// Makes the log end with a whole transaction: cuts a trailing partial one
    /// (left by a crash or a dropped connection; Postgres sends it again) and
    /// returns the checkpoint.
    public static func recover(_ log: Log, logger: Logger) throws -> IngestCheckpoint? {
        while true {
            switch try Self.tail(of: log) {
            case .empty: return nil
            case .complete(let checkpoint): return checkpoint
            case .partial(let start, let commitLSN):
                let cut = max(start, log.lowestOffset)
                logger.warning(
                    "ingest.partial_transaction_truncated",
                    metadata: [
                        "log.directory": "\(log.directory)", "log.from_offset": "\(cut)",
                        "log.records": "\(log.nextOffset - cut)", "postgres.commit_lsn": "\(commitLSN)",
                    ])
                try log.truncate(from: cut)
            }
        }
    }

    /// The record at `offset`, or the last one before it when key compaction
    /// removed that offset.
    static func lastRecord(in log: Log, atOrBefore offset: Int64) throws -> StoredRecord? {
        var window: Int64 = 16
        while true {
            let start = max(log.lowestOffset, offset - window + 1)
            let records = try log.read(from: start, maxRecords: Int(offset - start + 1), maxBytes: 64 << 20)
            if let record = records.last(where: { $0.offset <= offset }) { return record }
            if start == log.lowestOffset { return nil }
            window *= 8
        }
    }

    static func tail(of log: Log, at offset: Int64? = nil) throws -> Tail {
        let last = offset ?? (log.nextOffset - 1)
        guard last >= log.lowestOffset, last >= 0, let record = try lastRecord(in: log, atOrBefore: last) else { return .empty }
        let offset = record.offset
        func header(_ name: String) -> String? {
            record.headers.last { $0.key == name }.flatMap { $0.value }.map { String(decoding: $0, as: UTF8.self) }
        }
        guard let commitText = header(CDCHeader.commitLSN), let commitLSN = LSN(commitText),
            let ordinalText = header(CDCHeader.transactionOrdinal), let ordinal = Int64(ordinalText), ordinal >= 0
        else {
            throw IngestError(
                .notAnIngestedLog,
                "record \(offset) of \(log.directory) has no \(CDCHeader.commitLSN)/\(CDCHeader.transactionOrdinal) headers: "
                    + "the log was not written by logd ingest postgres; ingest into a new log")
        }
        guard let endText = header(CDCHeader.transactionEndLSN) else {
            return .partial(startOffset: offset - ordinal, commitLSN: commitLSN)
        }
        guard let endLSN = LSN(endText), let sequenceText = header(CDCHeader.transactionSequence),
            let sequence = Int64(sequenceText), sequence > 0
        else {
            throw IngestError(
                .notAnIngestedLog,
                "record \(offset) of \(log.directory) has a malformed \(CDCHeader.transactionEndLSN)/\(CDCHeader.transactionSequence) header"
            )
        }
        return .complete(IngestCheckpoint(commitLSN: commitLSN, endLSN: endLSN, transactionCount: sequence, offset: offset))
    }
}
