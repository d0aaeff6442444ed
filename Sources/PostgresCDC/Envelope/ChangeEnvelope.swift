import LogStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns decoded changes into log records: the JSON envelope of docs/CDC.md
/// as the value, the replica-identity columns as the key, and headers
/// `table`, `op`, `commit_lsn`, `tx_ordinal`.
///
/// Keeps its JSON buffers between calls; each record costs its own key, value
/// and header arrays and nothing else. Not thread-safe: one per ingest loop.
///
/// Header names are `CDCHeader`'s; the JSON field names below are the
/// envelope's own, even where they match a header's (`op`, `commit_lsn`,
/// `tx_ordinal`, `prefix`).
public struct ChangeEnvelope: Sendable {
    private var value = JSONWriter(capacity: 1024)
    private var key = JSONWriter(capacity: 128)
    private var unchangedColumns: [Int] = []
    private var commitLSNCache: (lsn: LSN, bytes: [UInt8]) = (.zero, LSN.zero.utf8)
    /// The parts of the `source` object every record of a committed streamed
    /// transaction shares (`withCommittedValue`), written once per transaction.
    private var committedParts: CommittedSourceParts?

    public init() {}

    /// An insert (op `c`).
    ///
    /// - Throws: `ChangeEncodingError` when the tuple does not match `relation`.
    public mutating func insert(_ insert: PgOutputMessage.Insert, relation: CachedRelation, source: ChangeSource)
        throws(ChangeEncodingError) -> Record
    {
        try rowChange(.create, relation: relation, old: nil, new: insert.newTuple, source: source)
    }

    /// An update (op `u`). `before` is the old row under REPLICA IDENTITY
    /// FULL, the old key columns when the key changed, else null. Unchanged
    /// TOAST values come from the old tuple when it has them, else are left out
    /// of `after` and listed in `unchanged`.
    public mutating func update(_ update: PgOutputMessage.Update, relation: CachedRelation, source: ChangeSource)
        throws(ChangeEncodingError) -> Record
    {
        try rowChange(.update, relation: relation, old: update.oldTuple, new: update.newTuple, source: source)
    }

    /// A delete (op `d`): `before` holds the key columns, or the whole old row
    /// under REPLICA IDENTITY FULL.
    public mutating func delete(_ delete: PgOutputMessage.Delete, relation: CachedRelation, source: ChangeSource)
        throws(ChangeEncodingError) -> Record
    {
        try rowChange(.delete, relation: relation, old: delete.oldTuple, new: nil, source: source)
    }

    /// A tombstone for a deleted row: its key, a null value, headers as the
    /// delete's (op `d`). Appended right after the delete (as Debezium's
    /// `tombstones.on.delete`) so that key compaction drops the row from the
    /// log once `delete.retention.ms` has passed.
    public mutating func tombstone(key: [UInt8], relation: CachedRelation, source: ChangeSource) -> Record {
        var record = makeRecord(.delete, key: key, source: source, table: relation.qualifiedNameUTF8)
        record.value = nil
        return record
    }

    /// A row of the initial snapshot (op `r`), in text format as COPY or a
    /// query returns it.
    public mutating func snapshotRow(_ row: TupleData, relation: CachedRelation, source: ChangeSource)
        throws(ChangeEncodingError) -> Record
    {
        try rowChange(.read, relation: relation, old: nil, new: row, source: source)
    }

    /// One record per truncated table (op `t`), in the message's order. Record
    /// `i` has `tx_ordinal` `source.transactionOrdinal + i`: advance the
    /// ordinal by the number of records returned.
    ///
    /// - Throws: `ChangeEncodingError.unknownRelation` for an OID not in `relations`.
    public mutating func truncate(_ truncate: PgOutputMessage.Truncate, relations: RelationCache, source: ChangeSource)
        throws(ChangeEncodingError) -> [Record]
    {
        var tables: [CachedRelation] = []
        tables.reserveCapacity(truncate.relationOIDs.count)
        for oid in truncate.relationOIDs {
            guard let relation = relations[oid] else {
                throw ChangeEncodingError(.unknownRelation, relationOID: oid, "truncate of a relation never announced")
            }
            tables.append(relation)
        }
        var records: [Record] = []
        records.reserveCapacity(tables.count)
        for (position, table) in tables.enumerated() {
            let source = source.advanced(by: position)
            value.reset()
            value.raw(#"{"op":"t","before":null,"after":null,"truncate":{"tables":["#)
            for (index, other) in tables.enumerated() {
                if index > 0 { value.byte(UInt8(ascii: ",")) }
                value.string(other.relation.qualifiedName)
            }
            value.raw(#"],"cascade":"#)
            value.bool(truncate.cascade)
            value.raw(#","restart_identity":"#)
            value.bool(truncate.restartIdentity)
            value.byte(UInt8(ascii: "}"))
            writeSource(source, relation: table)
            records.append(makeRecord(.truncate, key: nil, source: source, table: table.qualifiedNameUTF8))
        }
        return records
    }

    /// A logical decoding message (op `m`). The content is a string when it is
    /// valid UTF-8, else base64; `content_encoding` says which.
    public mutating func message(_ message: PgOutputMessage.LogicalMessage, source: ChangeSource) -> Record {
        value.reset()
        value.raw(#"{"op":"m","before":null,"after":null,"message":{"prefix":"#)
        value.string(message.prefix)
        value.raw(#","content":"#)
        if JSONWriter.isValidUTF8(message.content) {
            value.string(message.content)
            value.raw(#","content_encoding":"utf8","transactional":"#)
        } else {
            value.base64String(message.content)
            value.raw(#","content_encoding":"base64","transactional":"#)
        }
        value.bool(message.isTransactional)
        value.byte(UInt8(ascii: "}"))
        writeSource(source, relation: nil)
        var record = makeRecord(.message, key: nil, source: source, table: nil)
        record.headers.append(RecordHeader(CDCHeader.messagePrefix, message.prefix))
        return record
    }

    /// A gap marker (op `g`): the changes committed after `after` and up to
    /// `until` are not in the log, for `reason`. With `resnapshot`, a full
    /// image of the published tables (op `r`) follows in the same unit.
    public mutating func gap(after: LSN, until: LSN, reason: String, resnapshot: Bool, source: ChangeSource) -> Record {
        value.reset()
        value.raw(#"{"op":"g","before":null,"after":null,"gap":{"after_lsn":"#)
        value.lsn(after)
        value.raw(#","until_lsn":"#)
        value.lsn(until)
        value.raw(#","reason":"#)
        value.string(reason)
        value.raw(#","resnapshot":"#)
        value.bool(resnapshot)
        value.byte(UInt8(ascii: "}"))
        writeSource(source, relation: nil)
        return makeRecord(.gap, key: nil, source: source, table: nil)
    }

    /// A schema record (op `s`): the table's columns with type (and base type
    /// for a domain), type modifier and key flag. Append one whenever `RelationCache.apply` says
    /// `needsSchemaRecord`, before the change that follows the Relation.
    public mutating func schema(_ relation: CachedRelation, source: ChangeSource) -> Record {
        let table = relation.relation
        value.reset()
        value.raw(#"{"op":"s","before":null,"after":null,"schema":{"relation_oid":"#)
        value.integer(table.oid)
        value.raw(#","namespace":"#)
        value.string(table.namespace)
        value.raw(#","name":"#)
        value.string(table.name)
        value.raw(#","replica_identity":"#)
        switch table.replicaIdentity {
        case .default: value.raw(#""default""#)
        case .nothing: value.raw(#""nothing""#)
        case .full: value.raw(#""full""#)
        case .index: value.raw(#""index""#)
        case .other(let byte): value.string([byte])
        }
        value.raw(#","columns":["#)
        for (index, column) in table.columns.enumerated() {
            if index > 0 { value.byte(UInt8(ascii: ",")) }
            value.raw(#"{"name":"#)
            value.string(column.name)
            value.raw(#","type":"#)
            if let name = relation.typeNames[index] { value.string(name) } else { value.null() }
            if let base = relation.baseTypeNames[index] {
                value.raw(#","base_type":"#)
                value.string(base)
            }
            value.raw(#","type_oid":"#)
            value.integer(column.typeOID)
            value.raw(#","type_modifier":"#)
            value.integer(column.typeModifier)
            value.raw(#","key":"#)
            value.bool(column.isKey)
            value.byte(UInt8(ascii: "}"))
        }
        value.raw("]}")
        writeSource(source, relation: relation)
        return makeRecord(.schema, key: nil, source: source, table: relation.qualifiedNameUTF8)
    }

    // MARK: - Rows

    private mutating func rowChange(
        _ operation: ChangeOperation, relation: CachedRelation, old: PgOutputMessage.OldTuple?, new: TupleData?,
        source: ChangeSource
    ) throws(ChangeEncodingError) -> Record {
        let columnCount = relation.relation.columns.count
        for tuple in [old?.tuple, new] {
            if let tuple, tuple.columns.count != columnCount {
                throw ChangeEncodingError(
                    .columnCountMismatch, relationOID: relation.relation.oid,
                    "tuple has \(tuple.columns.count) columns, relation \(relation.relation.qualifiedName) has \(columnCount)")
            }
        }
        // Values an update leaves as 'u' are equal to the old row's, so the
        // old tuple (FULL, or 'K' for key columns) may fill them.
        let fallback = old?.tuple
        var ignored: [Int]? = nil

        value.reset()
        value.raw(#"{"op":""#)
        value.raw(operation.rawValue.utf8)
        value.raw(#"","before":"#)
        switch old {
        case .none: value.null()
        case .key(let tuple): Self.writeRow(tuple, relation, keysOnly: true, fallback: nil, unchanged: &ignored, into: &value)
        case .full(let tuple): Self.writeRow(tuple, relation, keysOnly: false, fallback: nil, unchanged: &ignored, into: &value)
        }
        value.raw(#","after":"#)
        var unchanged: [Int]? = unchangedColumns
        unchangedColumns = []  // keeps the buffer uniquely referenced: no copy on write
        unchanged?.removeAll(keepingCapacity: true)
        if let new {
            Self.writeRow(new, relation, keysOnly: false, fallback: fallback, unchanged: &unchanged, into: &value)
        } else {
            value.null()
        }
        unchangedColumns = unchanged ?? []
        if !unchangedColumns.isEmpty {
            value.raw(#","unchanged":["#)
            for (index, column) in unchangedColumns.enumerated() {
                if index > 0 { value.byte(UInt8(ascii: ",")) }
                value.string(relation.relation.columns[column].name)
            }
            value.byte(UInt8(ascii: "]"))
        }
        writeSource(source, relation: relation)

        var keyBytes: [UInt8]?
        if relation.hasKey {
            // The key identifies the row as it is after the change; for a
            // delete, as it was.
            let keyTuple = new ?? old?.tuple ?? TupleData(columns: [])
            key.reset()
            Self.writeRow(
                keyTuple, relation, keysOnly: true, fallback: new == nil ? nil : fallback,
                unchanged: &ignored, into: &key)
            keyBytes = Array(key.bytes)
        }
        return makeRecord(operation, key: keyBytes, source: source, table: relation.qualifiedNameUTF8)
    }

    /// `{"column":value,...}` in column order. `'u'` values are taken from
    /// `fallback` when it has them; otherwise they are omitted (and their
    /// column indexes appended to `unchanged` when it is not nil).
    private static func writeRow(
        _ tuple: TupleData, _ relation: CachedRelation, keysOnly: Bool, fallback: TupleData?,
        unchanged: inout [Int]?, into writer: inout JSONWriter
    ) {
        let columns = relation.relation.columns
        writer.byte(UInt8(ascii: "{"))
        var first = true
        for index in columns.indices where index < tuple.columns.count {
            if keysOnly && !columns[index].isKey { continue }
            var columnValue = tuple.columns[index]
            if case .unchangedToast = columnValue, let fallback, index < fallback.columns.count {
                switch fallback.columns[index] {
                case .text, .binary: columnValue = fallback.columns[index]
                case .null, .unchangedToast: break
                }
            }
            if case .unchangedToast = columnValue {
                unchanged?.append(index)
                continue
            }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.string(columns[index].name)
            writer.byte(UInt8(ascii: ":"))
            switch columnValue {
            case .null, .unchangedToast: writer.null()
            case .text(let text): PostgresValue.writeText(text, format: relation.formats[index], to: &writer)
            case .binary(let bytes): PostgresValue.writeBinary(bytes, to: &writer)
            }
        }
        writer.byte(UInt8(ascii: "}"))
    }

    // MARK: - Source and record

    /// `,"source":{...}}`: closes the envelope.
    private mutating func writeSource(_ source: ChangeSource, relation: CachedRelation?) {
        writeSource(source, tableJSON: relation?.sourceTableJSON ?? Self.noTableJSON)
    }

    static let noTableJSON = Array(#","schema":null,"table":null"#.utf8)
    /// Where the `source` object starts: the last place these bytes are in a
    /// value (a string holding them would have its quotes escaped).
    static let sourceStart = Array(#","source":{"lsn":""#.utf8)
    static let ordinalField = Array(#","tx_ordinal":"#.utf8)
    static let commitTimeField = Array(#","commit_ts":"#.utf8)

    private mutating func writeSource(_ source: ChangeSource, tableJSON: some Collection<UInt8>) {
        value.raw(#","source":{"lsn":"#)
        value.lsn(source.lsn)
        Self.writeTransaction(of: source, to: &value)
        value.integer(source.transactionOrdinal)
        value.raw(tableJSON)
        Self.writeCommitTime(of: source, to: &value)
    }

    /// `,"commit_lsn":"X/X","xid":N,"tx_ordinal":` of the `source` object.
    private static func writeTransaction(of source: ChangeSource, to value: inout JSONWriter) {
        value.raw(#","commit_lsn":"#)
        value.lsn(source.commitLSN)
        value.raw(#","xid":"#)
        if let xid = source.xid { value.integer(xid) } else { value.null() }
        value.raw(#","tx_ordinal":"#)
    }

    /// `,"commit_ts":T}}`: ends the `source` object and the envelope.
    private static func writeCommitTime(of source: ChangeSource, to value: inout JSONWriter) {
        value.raw(#","commit_ts":"#)
        if let timestamp = source.commitTimestamp { value.integer(timestamp.unixMicroseconds) } else { value.null() }
        value.raw("}}")
    }

    /// `writeTransaction` and `writeCommitTime` of one transaction.
    private struct CommittedSourceParts {
        let commitLSN: LSN
        let xid: UInt32?
        let commitTimestamp: PostgresTimestamp?
        let transaction: [UInt8]
        let commitTime: [UInt8]

        init(_ source: ChangeSource) {
            commitLSN = source.commitLSN
            xid = source.xid
            commitTimestamp = source.commitTimestamp
            var writer = JSONWriter(capacity: 64)
            ChangeEnvelope.writeTransaction(of: source, to: &writer)
            transaction = writer.bytes
            writer.reset()
            ChangeEnvelope.writeCommitTime(of: source, to: &writer)
            commitTime = writer.bytes
        }

        func belongs(to source: ChangeSource) -> Bool {
            source.commitLSN == commitLSN && source.xid == xid && source.commitTimestamp == commitTimestamp
        }
    }

    // MARK: - Streamed transactions

    /// The parts of an envelope a streamed transaction's change keeps until
    /// its commit: the value up to its `source` object, and the table part of
    /// that object. Nil for a value this envelope did not write.
    static func split(_ value: [UInt8]) -> (body: ArraySlice<UInt8>, tableJSON: ArraySlice<UInt8>)? {
        guard let start = lastRange(of: sourceStart, in: value[...]),
            let ordinal = lastRange(of: ordinalField, in: value[start.upperBound...]),
            let commitTime = lastRange(of: commitTimeField, in: value[ordinal.upperBound...])
        else { return nil }
        var tableStart = ordinal.upperBound
        while tableStart < commitTime.lowerBound, value[tableStart] >= UInt8(ascii: "0"), value[tableStart] <= UInt8(ascii: "9") {
            tableStart += 1
        }
        return (value[..<start.lowerBound], value[tableStart..<commitTime.lowerBound])
    }

    private static func lastRange(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Range<Int>? {
        haystack.withUnsafeBytes { bytes in
            needle.withUnsafeBytes { needle in
                guard let base = bytes.baseAddress, let needleBase = needle.baseAddress, let last = needle.last else {
                    return nil
                }
                // From the end (the source object closes the value): the last byte first, then the rest.
                var end = bytes.count
                while end >= needle.count {
                    if bytes[end - 1] == last, memcmp(base + end - needle.count, needleBase, needle.count) == 0 {
                        return haystack.startIndex + end - needle.count..<haystack.startIndex + end
                    }
                    end -= 1
                }
                return nil
            }
        }
    }

    /// The value of a staged change once its transaction committed: `body`
    /// (from `split`), then the `source` object with `source`'s commit LSN,
    /// ordinal and commit time; byte for byte what the change would have been
    /// had it not been streamed.
    mutating func withCommittedValue<R>(
        body: UnsafeRawBufferPointer, tableJSON: UnsafeRawBufferPointer, source: ChangeSource,
        _ use: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        if committedParts?.belongs(to: source) != true { committedParts = CommittedSourceParts(source) }
        let parts = committedParts!
        value.reset()
        value.raw(body)
        // writeSource, with the parts the transaction's records share written once.
        value.raw(#","source":{"lsn":"#)
        value.lsn(source.lsn)
        value.raw(parts.transaction)
        value.integer(source.transactionOrdinal)
        value.raw(tableJSON)
        value.raw(parts.commitTime)
        return try value.bytes.withUnsafeBytes(use)
    }

    private mutating func makeRecord(_ operation: ChangeOperation, key: [UInt8]?, source: ChangeSource, table: [UInt8]?) -> Record
    {
        if source.commitLSN != commitLSNCache.lsn {
            // Every record of a transaction shares the bytes (copy on write, never copied).
            commitLSNCache = (source.commitLSN, source.commitLSN.utf8)
        }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(6)
        if let table { headers.append(RecordHeader(key: CDCHeader.table, value: table)) }
        headers.append(RecordHeader(key: CDCHeader.operation, value: operation.headerValue))
        headers.append(RecordHeader(key: CDCHeader.commitLSN, value: commitLSNCache.bytes))
        var ordinal = JSONWriter(capacity: 8)
        ordinal.decimal(Int64(source.transactionOrdinal))
        headers.append(RecordHeader(key: CDCHeader.transactionOrdinal, value: ordinal.bytes))
        return Record(
            key: key, value: Array(value.bytes), headers: headers,
            timestamp: source.commitTimestamp?.unixMilliseconds)
    }
}
