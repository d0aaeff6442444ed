import LogStore
import Logging

/// Turns the pgoutput messages of one replication session into records
/// through a `TransactionWriter`. The relation cache lives per session:
/// Postgres announces every table again on a new connection, and a schema
/// record cut with an abandoned transaction is then written again.
///
/// With protocol 2 streaming, the changes of a transaction Postgres streams
/// while it runs go to `staging` (on disk) until its Stream Commit, which
/// writes them to the log as one transaction, in commit order, with the same
/// records a transaction sent at its commit gets.
struct StreamDecoder {
    /// A transaction (or lone message) that ended.
    struct Committed: Equatable {
        var end: LSN
        /// The append to wait on before acknowledging `end`; nil when nothing
        /// was appended since the log was opened (it is durable already).
        var receipt: AppendReceipt?
        /// Its records were appended now (false: it was in the log already).
        var appended = true
    }

    let writer: TransactionWriter
    let logger: Logger
    /// Follow each delete with a tombstone (`PostgresIngestOptions.tombstonesOnDelete`).
    let tombstones: Bool
    /// Where streamed transactions wait for their commit; nil under protocol 1.
    let staging: StreamStaging?
    var relations = RelationCache()
    var envelope = ChangeEnvelope()
    private var warnedTags: Set<UInt8> = []
    /// Each relation's version: it grows each time its Relation message
    /// brings a new shape (`needsSchemaRecord`).
    private var versions: [UInt32: Int] = [:]
    /// The version of each relation whose schema record this session wrote to
    /// the log last: a change of another version gets a schema record first.
    private var loggedSchemas: [UInt32: Int] = [:]
    /// The transaction of the stream block being received (Stream Start to Stream Stop).
    private(set) var streamingXid: UInt32?
    /// Where a streamed transaction's records are encoded at its commit, and their headers.
    private let streamedBatch = RecordBatchBuffer(capacity: 1 << 20)
    private var headers = RecordHeadersEncoder()
    private var ordinalDigits = JSONWriter(capacity: 20)

    init(writer: TransactionWriter, logger: Logger, tombstones: Bool, staging: StreamStaging? = nil) {
        self.writer = writer
        self.logger = logger
        self.tombstones = tombstones
        self.staging = staging
    }

    /// Whether messages now come inside a stream block (they carry an xid).
    var isInStreamBlock: Bool { streamingXid != nil }

    /// Where a change's records go.
    private enum Target {
        /// The open transaction of the writer.
        case log
        /// The staging file of streamed transaction `xid`, as part of its subtransaction.
        case staged(xid: UInt32, subtransaction: UInt32, lsn: LSN)
    }

    /// Handles the pgoutput message of one XLogData. A Relation is applied
    /// with the types `relations` knows: look up its new types first
    /// (`RelationCache.typesToLookUp`).
    /// - Parameters:
    ///   - position: the XLogData's start.
    ///   - streamXid: the (sub)transaction a message inside a stream block names.
    /// - Returns: the transaction it ended, if it was a commit (or a lone message).
    /// - Throws: `ChangeEncodingError`, `IngestError`, `LogStoreError`.
    mutating func handle(_ message: PgOutputMessage, at position: LSN, streamXid: UInt32? = nil) throws -> Committed? {
        if let streamXid {
            guard let top = streamingXid else {
                throw IngestError(.protocolViolation, "a message of transaction \(streamXid) outside a stream block")
            }
            try handleChange(message, target: .staged(xid: top, subtransaction: streamXid, lsn: position))
            return nil
        }
        writer.setPosition(position)
        switch message {
        case .begin(let begin):
            try writer.begin(
                ChangeSource(
                    lsn: position, commitLSN: begin.finalLSN, xid: begin.xid, transactionOrdinal: 0,
                    commitTimestamp: begin.commitTimestamp))
        case .commit(let commit):
            return try commitOpenTransaction(endLSN: commit.endLSN)
        case .relation, .type, .insert, .update, .delete, .truncate:
            try handleChange(message, target: .log)
        case .message(let logical):
            if logical.isTransactional {
                try handleChange(message, target: .log)
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
        case .streamStart(let start):
            guard streamingXid == nil, let staging else {
                throw IngestError(
                    .protocolViolation,
                    "Stream Start of \(start.xid) \(staging == nil ? "without streaming asked for" : "inside a stream block")")
            }
            try staging.begin(start.xid)
            streamingXid = start.xid
        case .streamStop:
            guard let xid = streamingXid else { throw IngestError(.protocolViolation, "Stream Stop outside a stream block") }
            try staging?.flush(xid)
            streamingXid = nil
        case .streamAbort(let abort):
            try staging?.abort(abort.xid, subtransaction: abort.subtransactionXid)
        case .streamCommit(let commit):
            return try commitStreamed(commit)
        case .origin:
            break  // the origin of a replicated transaction: not part of the record format
        case .unsupported(let tag):
            if warnedTags.insert(tag).inserted {
                logger.warning("ingest.message_ignored", metadata: ["pgoutput.tag": "\(Character(Unicode.Scalar(tag)))"])
            }
        }
        return nil
    }

    /// A Relation, Type, change or transactional message, for the open
    /// transaction or a streamed one.
    private mutating func handleChange(_ message: PgOutputMessage, target: Target) throws {
        switch message {
        case .relation(let relation):
            if relations.apply(relation).needsSchemaRecord { versions[relation.oid, default: 0] += 1 }
            return
        case .type(let type):
            relations.apply(type)
            return
        default:
            break
        }
        if case .log = target {
            _ = try writer.currentSource(for: "a change")
            guard !writer.isSkipping else { return }
        }
        // Each record is made into a local first: `emit(envelope.insert(...))` would copy the whole
        // decoder (its `self` is taken before the argument changes `envelope`). The source is taken
        // after the schema record a change may need: that record takes an ordinal of the log's transaction.
        switch message {
        case .insert(let insert):
            let table = try relationWithSchema(insert.relationOID, target)
            let record = try envelope.insert(insert, relation: table, source: source(target))
            try emit(record, target)
        case .update(let update):
            let table = try relationWithSchema(update.relationOID, target)
            let record = try envelope.update(update, relation: table, source: source(target))
            try emit(record, target)
        case .delete(let delete):
            let table = try relationWithSchema(delete.relationOID, target)
            let record = try envelope.delete(delete, relation: table, source: source(target))
            try emit(record, target)
            if tombstones, let key = record.key {
                let tombstone = envelope.tombstone(key: key, relation: table, source: try source(target))
                try emit(tombstone, target)
            }
        case .truncate(let truncate):
            for oid in truncate.relationOIDs { _ = try relationWithSchema(oid, target) }
            let records = try envelope.truncate(truncate, relations: relations, source: source(target))
            for record in records { try emit(record, target) }
        case .message(let logical):
            let record = envelope.message(logical, source: try source(target))
            try emit(record, target)
        default:
            throw IngestError(.protocolViolation, "an unexpected message inside a transaction")
        }
    }

    /// The source of the next record: the writer's, or for a staged record a
    /// placeholder whose commit fields the commit fills in.
    private func source(_ target: Target) throws -> ChangeSource {
        switch target {
        case .log:
            return try writer.currentSource(for: "a change")
        case .staged(let xid, _, let lsn):
            return ChangeSource(lsn: lsn, commitLSN: .zero, xid: xid, transactionOrdinal: 0, commitTimestamp: nil)
        }
    }

    private func emit(_ record: Record, _ target: Target, schema: (relation: UInt32, version: Int)? = nil) throws {
        switch target {
        case .log:
            try writer.add(record)
        case .staged(let xid, let subtransaction, let lsn):
            // Checked now, as the writer checks the records of other transactions: at the commit it would be too late.
            try writer.checkSize(of: record, source: source(target))
            try staging?.add(record, lsn: lsn, xid: xid, subtransaction: subtransaction, schema: schema)
        }
    }

    /// The cached relation, after its schema record when one is due: in the
    /// log, when the last one written this session is of another version; in a
    /// streamed transaction, when it staged none of this version (the commit
    /// writes it only if the log still needs it then).
    private mutating func relationWithSchema(_ oid: UInt32, _ target: Target) throws -> CachedRelation {
        let cached = try relation(oid)
        let version = versions[oid, default: 0]
        switch target {
        case .log:
            if loggedSchemas[oid] != version {
                try writer.add(envelope.schema(cached, source: writer.currentSource(for: "a schema record")))
                loggedSchemas[oid] = version
            }
        case .staged(let xid, _, _):
            if staging?.stagedSchemaVersion(xid, relation: oid) != version {
                try emit(envelope.schema(cached, source: source(target)), target, schema: (oid, version))
            }
        }
        return cached
    }

    /// Stream Commit: the staged records into the log as one transaction,
    /// each completed with the commit (`source`, two headers, the last one's
    /// `tx_end_lsn` and `tx_seq`) and encoded straight into a batch.
    private mutating func commitStreamed(_ streamed: PgOutputMessage.StreamCommit) throws -> Committed? {
        guard streamingXid == nil, let staging else {
            throw IngestError(.protocolViolation, "Stream Commit of \(streamed.xid) inside a stream block or without streaming")
        }
        let commit = streamed.commit
        var source = ChangeSource(
            lsn: commit.commitLSN, commitLSN: commit.commitLSN, xid: streamed.xid, transactionOrdinal: 0,
            commitTimestamp: commit.commitTimestamp)
        try writer.begin(source)
        guard !writer.isSkipping, staging.recordCount(streamed.xid) > 0 else {
            try staging.end(streamed.xid)
            return try commitOpenTransaction(endLSN: commit.endLSN)
        }
        let total = staging.recordCount(streamed.xid)
        let started = ContinuousClock.now
        let commitLSN = commit.commitLSN.utf8
        let endLSN = commit.endLSN.utf8
        let sequence = Array(String(writer.nextTransactionSequence).utf8)
        let timestamp = commit.commitTimestamp.unixMilliseconds
        let batch = streamedBatch
        batch.removeAll()
        var index = 0
        try staging.forEachRecord(streamed.xid) { staged in
            index += 1
            if let schema = staged.schema {
                guard loggedSchemas[schema.relation] != schema.version else { return }
                loggedSchemas[schema.relation] = schema.version
            }
            // Pieces as any large transaction's: the last record always waits for the end.
            if batch.count >= writer.maxPendingRecords || batch.byteCount + staged.byteCount > writer.maxPendingBytes,
                !batch.isEmpty
            {
                try writer.appendAhead(batch)
            }
            headers.removeAll()
            staged.forEachHeader { key, value in
                if Self.equal(key, Self.commitLSNHeader) {
                    commitLSN.withUnsafeBytes { headers.append(key: key, value: $0) }
                } else if Self.equal(key, Self.ordinalHeader) {
                    ordinalDigits.reset()
                    ordinalDigits.decimal(Int64(source.transactionOrdinal))
                    ordinalDigits.bytes.withUnsafeBytes { headers.append(key: key, value: $0) }
                } else {
                    headers.append(key: key, value: value)
                }
            }
            if index == total {
                Self.endLSNHeader.withUnsafeBytes { key in endLSN.withUnsafeBytes { headers.append(key: key, value: $0) } }
                Self.sequenceHeader.withUnsafeBytes { key in sequence.withUnsafeBytes { headers.append(key: key, value: $0) } }
            }
            source.lsn = staged.lsn
            if let body = staged.body {
                try envelope.withCommittedValue(body: body, tableJSON: staged.tableJSON, source: source) { value in
                    try batch.append(key: staged.key, value: value, headers: &headers, timestamp: timestamp)
                }
            } else {
                try batch.append(key: staged.key, value: nil, headers: &headers, timestamp: timestamp)
            }
            source.transactionOrdinal += 1
        }
        try staging.end(streamed.xid)
        let stored = writer.appendedTransactions
        let receipt = try writer.commit(batch, endLSN: commit.endLSN)
        guard writer.appendedTransactions > stored else { return nil }
        writer.streamedTransactions += 1
        logger.info(
            "ingest.streamed_transaction_written",
            metadata: [
                "postgres.xid": "\(streamed.xid)", "postgres.commit_lsn": "\(commit.commitLSN)", "ingest.records": "\(total)",
                "ingest.duration": "\(ContinuousClock.now - started)",
            ])
        return Committed(end: commit.endLSN, receipt: receipt, appended: true)
    }

    static let commitLSNHeader = Array(CDCHeader.commitLSN.utf8)
    static let ordinalHeader = Array(CDCHeader.transactionOrdinal.utf8)
    static let endLSNHeader = Array(CDCHeader.transactionEndLSN.utf8)
    static let sequenceHeader = Array(CDCHeader.transactionSequence.utf8)

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ other: [UInt8]) -> Bool {
        bytes.count == other.count && bytes.elementsEqual(other)
    }

    /// Commits the writer's open transaction. A transaction with no record
    /// for the log (Postgres streams the large transactions of every table,
    /// and Postgres 14 sends empty ones) is not one of the log's: nil, so its
    /// end is acknowledged only as a keepalive's WAL end would be, recorded
    /// in the source first (a later start must not take the slot standing
    /// there for somebody else's doing: docs/CDC.md, "Gaps").
    private func commitOpenTransaction(endLSN: LSN) throws -> Committed? {
        let stored = writer.isSkipping
        let before = writer.appendedTransactions
        let receipt = try writer.commit(endLSN: endLSN)
        let appended = writer.appendedTransactions > before
        guard stored || appended else { return nil }
        return Committed(end: endLSN, receipt: receipt, appended: appended)
    }

    private func relation(_ oid: UInt32) throws(IngestError) -> CachedRelation {
        guard let relation = relations[oid] else {
            throw IngestError(.protocolViolation, "a change to relation \(oid), which no Relation message announced")
        }
        return relation
    }
}
