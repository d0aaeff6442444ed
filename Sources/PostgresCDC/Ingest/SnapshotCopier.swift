import LogStore
import Logging

/// The initial snapshot: every published table copied (op `r`) inside the
/// snapshot the slot was created with, on a second, normal connection, while
/// the replication connection waits; streaming then starts at the slot's
/// consistent point, so nothing is missed and nothing is copied twice.
///
/// The whole snapshot is one unit in the log, like a transaction: commit LSN
/// and `tx_end_lsn` are the consistent point. A crash halfway leaves a
/// partial unit that the next start cuts off; the snapshot is then taken
/// again with a new slot.
struct SnapshotCopier {
    let session: IngestSession

    var options: PostgresIngestOptions { session.options }
    var writer: TransactionWriter { session.writer }

    /// Copies the tables and makes the records durable.
    /// - Returns: the number of rows copied.
    /// - Parameter prelude: makes the unit's first record (a gap marker before
    ///   a resnapshot), given its source.
    func copy(
        isolation: isolated (any Actor)? = #isolation, snapshotName: String, consistentPoint: LSN,
        prelude: ((ChangeSource) -> Record)? = nil
    ) async throws -> Int64 {
        var configuration = options.connection
        configuration.replication = .none
        try writer.begin(
            ChangeSource(lsn: consistentPoint, commitLSN: consistentPoint, xid: nil, transactionOrdinal: 0, commitTimestamp: nil))
        var total: Int64 = 0
        do {
            if let prelude { try writer.add(prelude(writer.currentSource(for: "the snapshot"))) }
            try await ReplicationConnection.withConnection(configuration: configuration, logger: session.logger) { connection in
                _ = try await connection.simpleQuery("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                _ = try await connection.simpleQuery("SET TRANSACTION SNAPSHOT \(SQL.literal(snapshotName))")
                // A table in several publications is copied once; pgoutput streams a
                // row that any of their row filters passes (none if one has no filter).
                let tables = try await connection.simpleQuery(
                    """
                    SELECT schemaname, tablename,
                           CASE WHEN bool_or(rowfilter IS NULL) THEN NULL ELSE string_agg('(' || rowfilter || ')', ' OR ') END
                    FROM pg_publication_tables WHERE pubname IN (\(SQL.literals(options.publications)))
                    GROUP BY 1, 2 ORDER BY 1, 2
                    """)
                let types = try await DomainCatalog.lookUp(publishedBy: options.publications, on: connection)
                let domains = Dictionary(types.domains.map { ($0.oid, $0) }, uniquingKeysWith: { first, _ in first })
                var envelope = ChangeEnvelope()
                for table in tables {
                    guard table.count == 3, let schema = table[0], let name = table[1] else { continue }
                    total += try await copyTable(
                        connection, schema: schema, name: name, rowFilter: table[2], domains: domains, envelope: &envelope)
                }
                _ = try await connection.simpleQuery("COMMIT")
            }
            if let receipt = try writer.commit(endLSN: consistentPoint) {
                try await writer.log.waitUntilDurable(receipt)
            }
        } catch {
            try writer.abandon()
            throw error
        }
        return total
    }

    private func copyTable(
        isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection, schema: String, name: String,
        rowFilter: String?, domains: [UInt32: PostgresDomain], envelope: inout ChangeEnvelope
    ) async throws -> Int64 {
        let relation = try await describe(connection, schema: schema, name: name, domains: domains)
        try writer.add(envelope.schema(relation, source: writer.currentSource(for: "the snapshot")))
        let columns = relation.relation.columns
        let list = columns.map { SQL.identifier($0.name) }.joined(separator: ", ")
        var query = "SELECT \(list) FROM \(SQL.identifier(schema)).\(SQL.identifier(name))"
        if let rowFilter { query += " WHERE \(rowFilter)" }
        let qualified = relation.relation.qualifiedName
        let clock = ContinuousClock()
        let started = clock.now
        var lastReport = started
        var rows: Int64 = 0
        func progress(done: Bool) {
            let seconds = max((clock.now - started) / .seconds(1), 1e-6)
            session.onSnapshotProgress(
                SnapshotProgress(table: qualified, rows: rows, rowsPerSecond: Double(rows) / seconds, isDone: done))
        }
        _ = try await connection.copyOut("COPY (\(query)) TO STDOUT") { row in
            if rows & 1023 == 0, session.ingester.stopSignal.isStopped {
                throw IngestError(
                    .snapshotInterrupted,
                    "stopped during the initial snapshot (at \(qualified), row \(rows)); the log is left empty: "
                        + "run again with --snapshot to take the snapshot again")
            }
            let tuple = try CopyTextRow.parse(row, columnCount: columns.count)
            try writer.add(envelope.snapshotRow(tuple, relation: relation, source: writer.currentSource(for: "the snapshot")))
            rows += 1
            if rows & 1023 == 0, clock.now - lastReport >= .seconds(1) {
                lastReport = clock.now
                progress(done: false)
            }
        }
        progress(done: true)
        return rows
    }

    /// The table's published columns as pgoutput would announce them: no
    /// dropped or generated columns, the publication's column list, key
    /// flags from the replica identity (every column under FULL); `domains`
    /// types columns of a domain by its base type.
    private func describe(
        isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection, schema: String, name: String,
        domains: [UInt32: PostgresDomain]
    ) async throws -> CachedRelation {
        let classRows = try await connection.simpleQuery(
            """
            SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = \(SQL.literal(schema)) AND c.relname = \(SQL.literal(name))
            """)
        guard let classRow = classRows.first, classRow.count == 2, let oidText = classRow[0], let oid = UInt32(oidText),
            let identityText = classRow[1], let identityByte = identityText.utf8.first
        else {
            throw IngestError(
                .protocolViolation,
                "table \(schema).\(name) of publications \(options.publications.joined(separator: ",")) is not in pg_class")
        }
        let identity = RelationMessage.ReplicaIdentity(byte: identityByte)
        let columnRows = try await connection.simpleQuery(
            """
            SELECT a.attname, a.atttypid, a.atttypmod,
                   COALESCE(a.attnum = ANY(i.indkey::int2[]), false), t.typname, tn.nspname
            FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_namespace tn ON tn.oid = t.typnamespace
            LEFT JOIN pg_index i ON i.indrelid = \(oid)
                 AND ((\(SQL.literal(identityText)) = 'd' AND i.indisprimary) OR (\(SQL.literal(identityText)) = 'i' AND i.indisreplident))
            WHERE a.attrelid = \(oid) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  AND EXISTS (SELECT 1 FROM pg_publication_tables p
                              WHERE p.pubname IN (\(SQL.literals(options.publications)))
                                    AND p.schemaname = \(SQL.literal(schema)) AND p.tablename = \(SQL.literal(name))
                                    AND a.attname = ANY(p.attnames))
            ORDER BY a.attnum
            """)
        var types: [UInt32: PgOutputMessage.TypeMessage] = [:]
        var columns: [RelationMessage.Column] = []
        for row in columnRows {
            guard row.count == 6, let columnName = row[0], let typeOID = row[1].flatMap({ UInt32($0) }),
                let modifier = row[2].flatMap({ Int32($0) }), let inKey = row[3], let typeName = row[4], let typeSchema = row[5]
            else {
                throw IngestError(.protocolViolation, "unexpected column description of \(schema).\(name): \(row)")
            }
            let isKey: Bool
            switch identity {
            case .full: isKey = true
            case .nothing: isKey = false
            default: isKey = inKey == "t"
            }
            // pgoutput announces types outside the built-in range with a Type message.
            if typeOID >= PostgresType.firstNonBuiltinOID {
                types[typeOID] = .init(oid: typeOID, namespace: typeSchema == "pg_catalog" ? "" : typeSchema, name: typeName)
            }
            columns.append(
                RelationMessage.Column(flags: isKey ? 1 : 0, name: columnName, typeOID: typeOID, typeModifier: modifier))
        }
        let message = RelationMessage(
            oid: oid, namespace: schema == "pg_catalog" ? "" : schema, name: name,
            replicaIdentity: identity, columns: columns)
        return CachedRelation(relation: message, types: types, domains: domains)
    }
}
