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
    /// Relations announced (new or changed shape) whose schema record is not written yet.
    private var pendingSchemas: Set<UInt32> = []

    init(writer: TransactionWriter, logger: Logger, tombstones: Bool) {
        self.writer = writer
        self.logger = logger
        self.tombstones = tombstones
    }

    /// Handles the pgoutput message of one XLogData. A Relation is applied
    /// with the types `relations` knows: look up its new types first
    /// (`RelationCache.typesToLookUp`).
    /// - Parameter position: the XLogData's start.
    /// - Returns: the transaction it ended, if it was a commit (or a lone message).
    /// - Throws: `ChangeEncodingError`, `IngestError`, `LogStoreError`.
    mutating func handle(_ message: PgOutputMessage, at position: LSN) throws -> Committed? {
        writer.setPosition(position)
        switch message {
        case .begin(let begin):
            try writer.begin(
                ChangeSource(
                    lsn: position, commitLSN: begin.finalLSN, xid: begin.xid, transactionOrdinal: 0,
                    commitTimestamp: begin.commitTimestamp))
        case .commit(let commit):
            let receipt = try writer.commit(endLSN: commit.endLSN)
            return Committed(end: commit.endLSN, receipt: receipt)
        case .relation(let relation):
            if relations.apply(relation).needsSchemaRecord {
                // Written before the table's next change that goes to the log (not in a
                // transaction already stored, which is dropped).
                pendingSchemas.insert(relation.oid)
            }
        case .type(let type):
            relations.apply(type)
        case .insert(let insert):
            _ = try writer.currentSource(for: "an insert")
            guard !writer.isSkipping else { return nil }
            try writer.add(
                envelope.insert(
                    insert, relation: try relationWithSchema(insert.relationOID), source: writer.currentSource(for: "an insert")))
        case .update(let update):
            _ = try writer.currentSource(for: "an update")
            guard !writer.isSkipping else { return nil }
            try writer.add(
                envelope.update(
                    update, relation: try relationWithSchema(update.relationOID), source: writer.currentSource(for: "an update")))
        case .delete(let delete):
            _ = try writer.currentSource(for: "a delete")
            guard !writer.isSkipping else { return nil }
            let table = try relationWithSchema(delete.relationOID)
            let record = try envelope.delete(delete, relation: table, source: writer.currentSource(for: "a delete"))
            try writer.add(record)
            if tombstones, let key = record.key {
                try writer.add(envelope.tombstone(key: key, relation: table, source: writer.currentSource(for: "a delete")))
            }
        case .truncate(let truncate):
            _ = try writer.currentSource(for: "a truncate")
            guard !writer.isSkipping else { return nil }
            for oid in truncate.relationOIDs { _ = try relationWithSchema(oid) }
            for record in try envelope.truncate(truncate, relations: relations, source: writer.currentSource(for: "a truncate")) {
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
            try writer.begin(
                ChangeSource(lsn: logical.lsn, commitLSN: logical.lsn, xid: nil, transactionOrdinal: 0, commitTimestamp: nil))
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

    /// The cached relation, after its schema record when one is due.
    private mutating func relationWithSchema(_ oid: UInt32) throws -> CachedRelation {
        let cached = try relation(oid)
        if pendingSchemas.remove(oid) != nil {
            try writer.add(envelope.schema(cached, source: writer.currentSource(for: "a schema record")))
        }
        return cached
    }

    private func relation(_ oid: UInt32) throws(IngestError) -> CachedRelation {
        guard let relation = relations[oid] else {
            throw IngestError(.protocolViolation, "a change to relation \(oid), which no Relation message announced")
        }
        return relation
    }
}
