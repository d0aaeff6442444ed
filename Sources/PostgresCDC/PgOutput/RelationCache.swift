/// A table's schema as last announced by a Relation message, with each
/// column's JSON format resolved once (not per row).
public struct CachedRelation: Hashable, Sendable {
    public let relation: RelationMessage
    /// `formats[i]` is how column `i` is written.
    public let formats: [PostgresValueFormat]
    /// `typeNames[i]`: the built-in name, else the domain's name (`PostgresDomain`),
    /// else the name from a Type message (`schema.name` outside `pg_catalog`),
    /// else nil.
    public let typeNames: [String?]
    /// `baseTypeNames[i]`: for a column whose type is a domain or an array of
    /// one, the base type's name (`int4`, `_int4`); nil for other columns.
    public let baseTypeNames: [String?]
    /// `schema.table` in UTF-8: the `table` header of every record.
    let qualifiedNameUTF8: [UInt8]
    /// `,"schema":"...","table":"..."` of the envelope's `source`.
    let sourceTableJSON: [UInt8]

    /// - Parameters:
    ///   - types: Type messages by OID (pgoutput sends one for each column
    ///     type that is not built in, before the Relation).
    ///   - domains: the column types known to be domains or arrays of one.
    public init(
        relation: RelationMessage, types: [UInt32: PgOutputMessage.TypeMessage] = [:],
        domains: [UInt32: PostgresDomain] = [:]
    ) {
        self.relation = relation
        var formats: [PostgresValueFormat] = []
        var names: [String?] = []
        var baseNames: [String?] = []
        formats.reserveCapacity(relation.columns.count)
        names.reserveCapacity(relation.columns.count)
        baseNames.reserveCapacity(relation.columns.count)
        for column in relation.columns {
            if let domain = domains[column.typeOID] {
                formats.append(domain.format)
                names.append(domain.name)
                baseNames.append(domain.baseName)
                continue
            }
            baseNames.append(nil)
            let announced = types[column.typeOID]
            if column.typeOID >= PostgresType.firstNonBuiltinOID, let announced, announced.namespace.isEmpty,
                let builtin = PostgresType.builtin(named: announced.name)
            {
                // pgoutput's Type message names a domain by its base type
                // (logicalrep_write_typ), so a type outside the built-in range
                // announced with a built-in name is a domain over it; this types
                // one that pg_type no longer held when it was looked up.
                formats.append(builtin.format)
            } else {
                formats.append(PostgresValueFormat.forType(oid: column.typeOID, typeName: announced?.name))
            }
            if let builtin = PostgresType.name(ofBuiltin: column.typeOID) {
                names.append(builtin)
            } else if let announced {
                names.append(announced.namespace.isEmpty ? announced.name : announced.namespace + "." + announced.name)
            } else {
                names.append(nil)
            }
        }
        self.formats = formats
        self.typeNames = names
        self.baseTypeNames = baseNames
        self.qualifiedNameUTF8 = Array(relation.qualifiedName.utf8)
        var json = JSONWriter(capacity: 64)
        json.raw(#","schema":"#)
        json.string(relation.namespace)
        json.raw(#","table":"#)
        json.string(relation.name)
        self.sourceTableJSON = json.bytes
    }

    /// Whether any column is part of the replica identity (if none, records
    /// of this table have no key).
    public var hasKey: Bool { relation.columns.contains { $0.isKey } }
}

/// The schemas of the tables seen in this replication session, by relation
/// OID. pgoutput sends a Relation before a table's first change in a session
/// and again after any change to it (and sometimes after mere cache
/// invalidation); a Relation replaces the cached schema.
public struct RelationCache: Sendable {
    /// What applying a Relation message did.
    public enum Update: Hashable, Sendable {
        /// First Relation for this OID in the session: emit a schema record
        /// (after a restart the cache is empty, so this repeats once per table).
        case added
        /// Same shape as cached: no schema record needed.
        case unchanged
        /// Namespace, name, replica identity, or a column's name, type, type
        /// modifier or key flag changed, or columns were added or dropped:
        /// emit a schema record.
        case changed(previous: CachedRelation)

        /// Whether the ingester should append a schema record (op `s`).
        public var needsSchemaRecord: Bool {
            if case .unchanged = self { return false }
            return true
        }
    }

    private var relations: [UInt32: CachedRelation] = [:]
    private var types: [UInt32: PgOutputMessage.TypeMessage] = [:]
    private var domains: [UInt32: PostgresDomain] = [:]
    /// Type OIDs looked up in `pg_type` (domains or not): each is looked up
    /// once per session.
    private var lookedUpTypes: Set<UInt32> = []

    public init() {}

    /// The cached schema of a relation, nil when no Relation message for it
    /// has been seen (a protocol violation for a change message).
    public subscript(oid: UInt32) -> CachedRelation? { relations[oid] }

    public var count: Int { relations.count }

    /// Replaces the cached schema of `relation.oid`.
    ///
    /// - Returns: whether it was new, unchanged or changed in shape.
    @discardableResult
    public mutating func apply(_ relation: RelationMessage) -> Update {
        let cached = CachedRelation(relation: relation, types: types, domains: domains)
        let previous = relations.updateValue(cached, forKey: relation.oid)
        guard let previous else { return .added }
        return previous.relation == relation && previous.typeNames == cached.typeNames
            && previous.baseTypeNames == cached.baseTypeNames
            ? .unchanged : .changed(previous: previous)
    }

    /// Records a Type message so that later Relations can name the type and
    /// recognise arrays of it.
    public mutating func apply(_ type: PgOutputMessage.TypeMessage) {
        types[type.oid] = type
    }

    /// The type announced for an OID, if any.
    public func type(oid: UInt32) -> PgOutputMessage.TypeMessage? { types[oid] }

    /// The column types of `relation` to look up in `pg_type` before it is
    /// applied (each may be a domain, or an array of one): those outside the
    /// built-in range not looked up yet in this session, each once.
    public func typesToLookUp(in relation: RelationMessage) -> [UInt32] {
        var wanted: [UInt32] = []
        for column in relation.columns
        where column.typeOID >= PostgresType.firstNonBuiltinOID && !lookedUpTypes.contains(column.typeOID)
            && !wanted.contains(column.typeOID)
        {
            wanted.append(column.typeOID)
        }
        return wanted
    }

    /// Records a look-up in `pg_type`: `types` were looked up, and `domains`
    /// are those among them that are domains or arrays of one. Relations
    /// applied from now on write their values as the base types'.
    public mutating func apply(lookedUp types: some Sequence<UInt32>, domains: [PostgresDomain]) {
        lookedUpTypes.formUnion(types)
        for domain in domains {
            lookedUpTypes.insert(domain.oid)
            self.domains[domain.oid] = domain
        }
    }
}
