/// How a column's text value becomes JSON, chosen from its type OID (see the
/// type mapping table in docs/CDC.md).
public struct PostgresValueFormat: Hashable, Sendable {
    public enum Scalar: Hashable, Sendable {
        /// int2, int4, int8, oid, xid, cid: a JSON number copied from the text.
        case integer
        /// float4, float8: a JSON number; `NaN`, `Infinity`, `-Infinity` as strings.
        case float
        /// bool: `true`/`false`.
        case bool
        /// numeric: the exact text as a string (no binary floating point).
        case numeric
        /// json, jsonb: the value embedded as JSON.
        case json
        /// bytea: base64 of the bytes.
        case bytea
        /// Everything else: the text form as a JSON string.
        case text
    }

    public var scalar: Scalar
    /// A Postgres array of `scalar`, written as (nested) JSON arrays.
    public var isArray: Bool

    public init(scalar: Scalar, isArray: Bool = false) {
        self.scalar = scalar
        self.isArray = isArray
    }

    /// The format of a type: built-in OIDs by table; a type announced by a
    /// Type message whose name starts with `_` (Postgres's array naming, e.g.
    /// an array of an enum) as an array of strings; anything else as text.
    ///
    /// - Parameters:
    ///   - oid: `pg_type.oid` of the column.
    ///   - typeName: the name from a Type message, for types that are not built in.
    public static func forType(oid: UInt32, typeName: String? = nil) -> PostgresValueFormat {
        if let builtin = PostgresType.builtins[oid] { return builtin.format }
        if let typeName, typeName.hasPrefix("_") { return PostgresValueFormat(scalar: .text, isArray: true) }
        return PostgresValueFormat(scalar: .text)
    }
}

/// The built-in types whose OIDs are fixed across Postgres versions
/// (`pg_type.dat`), with their names for schema records.
public enum PostgresType {
    public struct Builtin: Sendable {
        public var name: String
        public var format: PostgresValueFormat
    }

    /// The name of a built-in type (`int4`, `_text`, ...), nil when not built in.
    public static func name(ofBuiltin oid: UInt32) -> String? { builtins[oid]?.name }

    /// The built-in type of a `pg_catalog` name (`int4`, `_text`, ...), nil when not built in.
    public static func builtin(named name: String) -> Builtin? { builtinsByName[name] }

    /// Types below this OID are built in (`FirstGenbkiObjectId`, hand-assigned
    /// in `pg_type.dat`): never domains. pgoutput announces every other column
    /// type with a Type message.
    public static let firstNonBuiltinOID: UInt32 = 10_000

    static let builtinsByName: [String: Builtin] = Dictionary(
        builtins.values.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

    static let builtins: [UInt32: Builtin] = {
        var table: [UInt32: Builtin] = [:]
        func add(_ oid: UInt32, _ arrayOID: UInt32?, _ name: String, _ scalar: PostgresValueFormat.Scalar) {
            table[oid] = Builtin(name: name, format: PostgresValueFormat(scalar: scalar))
            if let arrayOID {
                table[arrayOID] = Builtin(name: "_" + name, format: PostgresValueFormat(scalar: scalar, isArray: true))
            }
        }
        add(16, 1000, "bool", .bool)
        add(17, 1001, "bytea", .bytea)
        add(18, 1002, "char", .text)
        add(19, 1003, "name", .text)
        add(20, 1016, "int8", .integer)
        add(21, 1005, "int2", .integer)
        add(23, 1007, "int4", .integer)
        add(25, 1009, "text", .text)
        add(26, 1028, "oid", .integer)
        add(27, 1010, "tid", .text)
        add(28, 1011, "xid", .integer)
        add(29, 1012, "cid", .integer)
        add(114, 199, "json", .json)
        add(142, 143, "xml", .text)
        add(600, 1017, "point", .text)
        add(650, 651, "cidr", .text)
        add(700, 1021, "float4", .float)
        add(701, 1022, "float8", .float)
        add(774, 775, "macaddr8", .text)
        add(790, 791, "money", .text)
        add(829, 1040, "macaddr", .text)
        add(869, 1041, "inet", .text)
        add(1042, 1014, "bpchar", .text)
        add(1043, 1015, "varchar", .text)
        add(1082, 1182, "date", .text)
        add(1083, 1183, "time", .text)
        add(1114, 1115, "timestamp", .text)
        add(1184, 1185, "timestamptz", .text)
        add(1186, 1187, "interval", .text)
        add(1266, 1270, "timetz", .text)
        add(1560, 1561, "bit", .text)
        add(1562, 1563, "varbit", .text)
        add(1700, 1231, "numeric", .numeric)
        add(2950, 2951, "uuid", .text)
        add(3614, 3643, "tsvector", .text)
        add(3802, 3807, "jsonb", .json)
        add(4072, 4073, "jsonpath", .text)
        // Types whose array element delimiter is not ',' (box uses ';') stay
        // text, array included: the array parser assumes ','.
        add(603, nil, "box", .text)
        table[1020] = Builtin(name: "_box", format: PostgresValueFormat(scalar: .text))
        return table
    }()
}
