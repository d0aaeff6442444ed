/// A column type that is a domain, or an array whose element is a domain,
/// resolved to its base type: the type at the end of the domain chain
/// (`pg_type.typbasetype`, followed through domains over domains). Its
/// values are written as the base type's (an array of them for an array of
/// a domain), as Debezium types domains: a domain over `int4` is a JSON
/// number, not the string pgoutput's text would make of an unknown type.
public struct PostgresDomain: Hashable, Sendable {
    /// `pg_type.oid` of the column's type.
    public var oid: UInt32
    /// The type's own name, `schema.name` (`name` alone in `pg_catalog`):
    /// `public.posint`, or `public._posint` for an array of it.
    public var name: String
    /// The base type's name, spelled as `name`: `int4`, or `_int4` for an
    /// array of a domain over `int4`.
    public var baseName: String
    /// How values are written: as the base type's.
    public var format: PostgresValueFormat

    /// - Parameters:
    ///   - oid: the column's type.
    ///   - name: its `schema.name`.
    ///   - baseOID: the base type at the end of the domain chain (of the
    ///     element, for an array of a domain).
    ///   - baseName: the name of the base type, or of the array of it for an
    ///     array of a domain.
    ///   - baseTypeName: the base type's `pg_type.typname` (`_`-prefixed for
    ///     Postgres arrays), for base types that are not built in.
    ///   - isArray: the column's type is an array whose element is the domain.
    public init(oid: UInt32, name: String, baseOID: UInt32, baseName: String, baseTypeName: String, isArray: Bool) {
        self.oid = oid
        self.name = name
        self.baseName = baseName
        let base = PostgresValueFormat.forType(oid: baseOID, typeName: baseTypeName)
        if !isArray {
            format = base
        } else if base.isArray {
            // An array of a domain over an array: its elements are quoted array
            // literals, which the array parser returns as text.
            format = PostgresValueFormat(scalar: .text, isArray: true)
        } else {
            format = PostgresValueFormat(scalar: base.scalar, isArray: true)
        }
    }
}
