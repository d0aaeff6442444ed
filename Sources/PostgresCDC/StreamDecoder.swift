import LogStore
import Logging

/// Turns the pgoutput messages of one replication session into records
/// through a `TransactionWriter`. The relation cache lives per session:
/// Postgres announces every table again on a new connection, and a schema
/// record cut with an abandoned transaction is then written again.
struct StreamDecoder {
    /// A transaction (or lone message) that ended.
    struct Committed {
        var end: LSN
        /// The append to wait on before acknowledging `end`; nil when nothing
        /// was appended since the log was opened (it is durable already).
        var receipt: AppendReceipt?
    }

    let writer: TransactionWriter
    let logger: Logger
    /// Follow each delete with a tombstone (`PostgresIngestOptions.tombstonesOnDelete`).
    let tombstones: Bool
    var relations = RelationCache()
    var envelope = ChangeEnvelope()
    private var warnedTags: Set<UInt8> = []

    init(writer: TransactionWriter, logger: Logger, tombstones: Bool) {
        self.writer = writer
        self.logger = logger
        self.tombstones = tombstones
    }

    /// Handles one XLogData message.
    /// - Returns: the transaction it ended, if it was a commit (or a lone message).
    /// - Throws: `PgOutputDecodingError`, `ChangeEncodingError`, `IngestError`, `LogStoreError`.
    mutating func handle(_ data: XLogData) throws -> Committed? {
        let message = try PgOutputDecoder.decode(data.payload)
        writer.setPosition(data.dataStart)
        switch message {
        case .begin(let begin):
            try writer.begin(
                ChangeSource(
                    lsn: data.dataStart, commitLSN: begin.finalLSN, xid: begin.xid, transactionOrdinal: 0,
                    commitTimestamp: begin.commitTimestamp))
        case .commit(let commit):
            let receipt = try writer.commit(endLSN: commit.endLSN)
            return Committed(end: commit.endLSN, receipt: receipt)
        case .relation(let relation):
            let update = relations.apply(relation)
            if update.needsSchemaRecord, writer.inTransaction, !writer.isSkipping, let cached = relations[relation.oid] {
                try writer.add(envelope.schema(cached, source: writer.currentSource(for: "a relation")))
            }
        case .type(let type):
            relations.apply(type)
        case .insert(let insert):
            let source = try writer.currentSource(for: "an insert")
            guard !writer.isSkipping else { return nil }
            try writer.add(envelope.insert(insert, relation: relation(insert.relationOID), source: source))
        case .update(let update):
            let source = try writer.currentSource(for: "an update")
            guard !writer.isSkipping else { return nil }
            try writer.add(envelope.update(update, relation: relation(update.relationOID), source: source))
        case .delete(let delete):
            let source = try writer.currentSource(for: "a delete")
            guard !writer.isSkipping else { return nil }
            let table = try relation(delete.relationOID)
            let record = try envelope.delete(delete, relation: table, source: source)
            try writer.add(record)
            if tombstones, let key = record.key {
                try writer.add(envelope.tombstone(key: key, relation: table, source: writer.currentSource(for: "a delete")))
            }
        case .truncate(let truncate):
            let source = try writer.currentSource(for: "a truncate")
            guard !writer.isSkipping else { return nil }
            for record in try envelope.truncate(truncate, relations: relations, source: source) {
                try writer.add(record)
            }
        case .message(let logical):
            if logical.isTransactional {
                let source = try writer.currentSource(for: "a transactional message")
                guard !writer.isSkipping else { return nil }
                try writer.add(envelope.message(logical, source: source))
                return nil
            }
            // A non-transactional message stands alone, like a transaction of one record.
            guard !writer.inTransaction else {
                throw IngestError(.protocolViolation, "non-transactional message at \(logical.lsn) inside a transaction")
            }
            try writer.begin(ChangeSource(lsn: logical.lsn, commitLSN: logical.lsn, xid: nil, transactionOrdinal: 0, commitTimestamp: nil))
            if !writer.isSkipping {
                try writer.add(envelope.message(logical, source: writer.currentSource(for: "a message")))
            }
            let end = LSN(logical.lsn.rawValue + 1)
            return Committed(end: end, receipt: try writer.commit(endLSN: end))
        case .origin:
            break  // the origin of a replicated transaction: not part of the record format
        case .unsupported(let tag):
            if warnedTags.insert(tag).inserted {
                logger.warning("ingest.message_ignored", metadata: ["pgoutput.tag": "\(Character(Unicode.Scalar(tag)))"])
            }
        }
        return nil
    }

    private func relation(_ oid: UInt32) throws(IngestError) -> CachedRelation {
        guard let relation = relations[oid] else {
            throw IngestError(.protocolViolation, "a change to relation \(oid), which no Relation message announced")
        }
        return relation
    }
}
