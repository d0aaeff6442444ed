import Logging

/// Finds in `pg_type` which column types are domains, or arrays whose
/// element is a domain, and their base types (`PostgresDomain`), so that a
/// domain over `int4` is written as a number (docs/CDC.md, "Domains").
///
/// pgoutput names a domain only by its base type in the Type message and
/// says nothing of an array's element, so the catalog has to be asked. A
/// replication connection runs SQL only until START_REPLICATION; from then
/// on it carries the stream alone. Hence two look-ups:
///
/// - at session setup, on the replication connection, one query for the
///   column types of every table the publications publish: the Relation
///   messages of the session nearly always bring only these;
/// - while streaming, when a Relation message brings a type outside the
///   built-in range that was not looked up yet (a table added to the
///   publication since, a column altered, a domain created since), on a
///   normal connection opened for the look-up and closed after it, while
///   the stream waits (status updates go on from their own timer). Such
///   Relations are rare and each type is looked up once per session, so a
///   connection kept open for them would cost more than it saves.
///
/// The look-up reads the current catalog, not the one of the WAL position
/// being decoded: a domain's base type never changes (ALTER DOMAIN cannot
/// change it), so only a type dropped since is missed; it is then typed by
/// the base type name of its Type message where that is a built-in type
/// (`CachedRelation`), else as text.
enum DomainCatalog {
    /// What one look-up found.
    struct Lookup: Sendable {
        /// The type OIDs looked up, domains or not.
        var lookedUp: [UInt32] = []
        var domains: [PostgresDomain] = []
    }

    /// Looks up the column types of the tables `publications` publish, on a
    /// connection that is not streaming (the session's, during setup).
    static func lookUp(
        isolation: isolated (any Actor)? = #isolation, publishedBy publications: [String], on connection: ReplicationConnection
    ) async throws -> Lookup {
        // pg_publication_tables names a partitioned table published through its
        // root (publish_via_partition_root) by the root, as pgoutput's Relations do.
        try await lookUp(
            """
            SELECT DISTINCT a.atttypid AS oid FROM pg_publication_tables p
            JOIN pg_namespace n ON n.nspname = p.schemaname
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE p.pubname IN (\(SQL.literals(publications))) AND a.atttypid >= \(PostgresType.firstNonBuiltinOID)
            """, on: connection)
    }

    /// Looks up `types` while the replication connection streams: on a normal
    /// connection of its own, closed after the query.
    static func lookUp(
        isolation: isolated (any Actor)? = #isolation, types: [UInt32], configuration: PostgresConnectionConfiguration,
        logger: Logger
    ) async throws -> Lookup {
        var normal = configuration
        normal.replication = .none
        logger.debug("ingest.type_lookup", metadata: ["postgres.type_oids": "\(types)"])
        var lookup = try await ReplicationConnection.withConnection(configuration: normal, logger: logger) { connection in
            let list = types.map(String.init).joined(separator: ",")
            return try await lookUp("SELECT unnest('{\(list)}'::oid[]) AS oid", on: connection)
        }
        // Types not found were dropped since: looked up all the same, once.
        lookup.lookedUp = types
        return lookup
    }

    /// Resolves the types `wanted` (a query with one column, `oid`) in one
    /// query: a domain is followed through `typbasetype` (domains over
    /// domains) to a type that is not a domain; an array (`typcategory` A)
    /// whose element (`typelem`) is a domain, through its element.
    private static func lookUp(
        isolation: isolated (any Actor)? = #isolation, _ wanted: String, on connection: ReplicationConnection
    ) async throws -> Lookup {
        let rows = try await connection.simpleQuery(
            """
            WITH RECURSIVE wanted AS (\(wanted)),
            chain(oid, is_array, current) AS (
                SELECT t.oid, t.typtype <> 'd', CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END
                FROM pg_type t JOIN wanted w ON w.oid = t.oid LEFT JOIN pg_type e ON e.oid = t.typelem
                WHERE t.typtype = 'd' OR (t.typcategory = 'A' AND e.typtype = 'd')
              UNION ALL
                SELECT c.oid, c.is_array, d.typbasetype FROM chain c JOIN pg_type d ON d.oid = c.current AND d.typtype = 'd'
            )
            SELECT t.oid, tn.nspname, t.typname, b.oid, bn.nspname, b.typname, ba.typname, c.is_array
            FROM wanted w JOIN pg_type t ON t.oid = w.oid JOIN pg_namespace tn ON tn.oid = t.typnamespace
            LEFT JOIN (chain c JOIN pg_type b ON b.oid = c.current AND b.typtype <> 'd'
                       JOIN pg_namespace bn ON bn.oid = b.typnamespace LEFT JOIN pg_type ba ON ba.oid = b.typarray)
                 ON c.oid = w.oid
            """)
        var lookup = Lookup()
        for row in rows {
            guard row.count == 8, let oid = row[0].flatMap({ UInt32($0) }), let schema = row[1], let name = row[2] else {
                throw IngestError(.protocolViolation, "unexpected row of the domain look-up in pg_type: \(row)")
            }
            lookup.lookedUp.append(oid)
            guard let baseOID = row[3].flatMap({ UInt32($0) }), let baseSchema = row[4], let baseTypeName = row[5] else {
                continue  // not a domain, nor an array of one
            }
            let isArray = row[7] == "t"
            // An array of a domain has the array of the base as its base type; a
            // base that is an array itself has none (row[6] is null) and keeps its name.
            let baseName = isArray ? row[6] ?? baseTypeName : baseTypeName
            lookup.domains.append(
                PostgresDomain(
                    oid: oid, name: qualified(schema, name), baseOID: baseOID, baseName: qualified(baseSchema, baseName),
                    baseTypeName: baseTypeName, isArray: isArray))
        }
        return lookup
    }

    /// `schema.name`, `name` alone in `pg_catalog`, as schema records name types.
    private static func qualified(_ schema: String, _ name: String) -> String {
        schema == "pg_catalog" ? name : schema + "." + name
    }
}
