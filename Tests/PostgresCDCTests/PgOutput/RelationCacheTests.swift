import Testing

@testable import PostgresCDC

@Suite struct RelationCacheTests {
    private func relation(
        _ columns: [RelationMessage.Column], name: String = "users",
        identity: RelationMessage.ReplicaIdentity = .default
    ) -> RelationMessage {
        RelationMessage(oid: 16_384, namespace: "public", name: name, replicaIdentity: identity, columns: columns)
    }

    private let id = RelationMessage.Column(flags: 1, name: "id", typeOID: 23, typeModifier: -1)
    private let email = RelationMessage.Column(flags: 0, name: "email", typeOID: 1043, typeModifier: 259)

    @Test func firstRelationIsAddedAndRepeatIsUnchanged() {
        var cache = RelationCache()
        #expect(cache.apply(relation([id, email])) == .added)
        #expect(cache.apply(relation([id, email])) == .unchanged)
        #expect(!RelationCache.Update.unchanged.needsSchemaRecord)
        #expect(RelationCache.Update.added.needsSchemaRecord)
        #expect(cache.count == 1)
        #expect(cache[16_384]?.relation.columns.count == 2)
        #expect(cache[1] == nil)
    }

    @Test(arguments: [
        (
            "add column",
            [
                RelationMessage.Column(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                .init(flags: 0, name: "email", typeOID: 1043, typeModifier: 259),
                .init(flags: 0, name: "age", typeOID: 21, typeModifier: -1),
            ]
        ),
        ("drop column", [.init(flags: 1, name: "id", typeOID: 23, typeModifier: -1)]),
        (
            "rename column",
            [
                .init(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                .init(flags: 0, name: "mail", typeOID: 1043, typeModifier: 259),
            ]
        ),
        (
            "change type",
            [
                .init(flags: 1, name: "id", typeOID: 20, typeModifier: -1),
                .init(flags: 0, name: "email", typeOID: 1043, typeModifier: 259),
            ]
        ),
        (
            "change typmod",
            [
                .init(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                .init(flags: 0, name: "email", typeOID: 1043, typeModifier: 516),
            ]
        ),
        (
            "change key",
            [
                .init(flags: 1, name: "id", typeOID: 23, typeModifier: -1),
                .init(flags: 1, name: "email", typeOID: 1043, typeModifier: 259),
            ]
        ),
    ])
    func shapeChangesAreReported(change: String, columns: [RelationMessage.Column]) throws {
        var cache = RelationCache()
        cache.apply(relation([id, email]))
        let update = cache.apply(relation(columns))
        guard case .changed(let previous) = update else {
            Issue.record("\(change): \(update)")
            return
        }
        #expect(previous.relation.columns == [id, email])
        #expect(cache[16_384]?.relation.columns == columns)
        #expect(update.needsSchemaRecord)
    }

    @Test func renameAndReplicaIdentityChangesAreReported() {
        var cache = RelationCache()
        cache.apply(relation([id, email]))
        #expect(cache.apply(relation([id, email], name: "members")) != .unchanged)
        #expect(cache.apply(relation([id, email], name: "members", identity: .full)) != .unchanged)
    }

    @Test func typeMessagesNameColumnsAndMarkArrays() throws {
        var cache = RelationCache()
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_001, namespace: "public", name: "mood"))
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_002, namespace: "public", name: "_mood"))
        #expect(cache.type(oid: 90_001)?.name == "mood")
        cache.apply(
            relation([
                id, .init(flags: 0, name: "m", typeOID: 90_001, typeModifier: -1),
                .init(flags: 0, name: "ms", typeOID: 90_002, typeModifier: -1),
            ]))
        let cached = try #require(cache[16_384])
        #expect(cached.typeNames == ["int4", "public.mood", "public._mood"])
        #expect(
            cached.formats == [
                PostgresValueFormat(scalar: .integer), PostgresValueFormat(scalar: .text),
                PostgresValueFormat(scalar: .text, isArray: true),
            ])
        #expect(cached.hasKey)
    }

    private func column(_ name: String, _ oid: UInt32) -> RelationMessage.Column {
        .init(flags: 0, name: name, typeOID: oid, typeModifier: -1)
    }

    @Test func domainsAreWrittenAsTheirBaseAndNamedWithIt() throws {
        var cache = RelationCache()
        // pgoutput's Type message names a domain by its base type, an array by itself.
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_010, namespace: "", name: "int4"))
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_011, namespace: "public", name: "_posint"))
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_012, namespace: "", name: "numeric"))
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_001, namespace: "public", name: "mood"))
        let columns = [
            id, column("n", 90_010), column("ns", 90_011), column("amount", 90_012), column("again", 90_010),
            column("m", 90_001), column("ints", 1007),
        ]
        #expect(cache.typesToLookUp(in: relation(columns)) == [90_010, 90_011, 90_012, 90_001])
        cache.apply(
            lookedUp: [90_010, 90_011, 90_012, 90_001],
            domains: [
                PostgresDomain(
                    oid: 90_010, name: "public.posint", baseOID: 23, baseName: "int4", baseTypeName: "int4", isArray: false),
                PostgresDomain(
                    oid: 90_011, name: "public._posint", baseOID: 23, baseName: "_int4", baseTypeName: "int4", isArray: true),
                PostgresDomain(
                    oid: 90_012, name: "public.amount", baseOID: 1700, baseName: "numeric", baseTypeName: "numeric",
                    isArray: false),
            ])
        #expect(cache.typesToLookUp(in: relation(columns)).isEmpty, "each type is looked up once")
        cache.apply(relation(columns))
        let cached = try #require(cache[16_384])
        #expect(
            cached.typeNames == [
                "int4", "public.posint", "public._posint", "public.amount", "public.posint", "public.mood", "_int4",
            ])
        #expect(cached.baseTypeNames == [nil, "int4", "_int4", "numeric", "int4", nil, nil])
        #expect(
            cached.formats == [
                PostgresValueFormat(scalar: .integer), PostgresValueFormat(scalar: .integer),
                PostgresValueFormat(scalar: .integer, isArray: true), PostgresValueFormat(scalar: .numeric),
                PostgresValueFormat(scalar: .integer), PostgresValueFormat(scalar: .text),
                PostgresValueFormat(scalar: .integer, isArray: true),
            ])
    }

    @Test(
        "a domain's format follows its base",
        arguments: [
            (UInt32(23), "int4", false, PostgresValueFormat(scalar: .integer)),
            (1007, "_int4", false, PostgresValueFormat(scalar: .integer, isArray: true)),  // a domain over int[]
            (16, "bool", true, PostgresValueFormat(scalar: .bool, isArray: true)),  // an array of a domain over bool
            (1007, "_int4", true, PostgresValueFormat(scalar: .text, isArray: true)),  // an array of a domain over int[]
            (90_001, "mood", true, PostgresValueFormat(scalar: .text, isArray: true)),  // over an enum
            (90_002, "_mood", false, PostgresValueFormat(scalar: .text, isArray: true)),  // over an enum's array
        ])
    func domainFormats(baseOID: UInt32, baseTypeName: String, isArray: Bool, format: PostgresValueFormat) {
        let domain = PostgresDomain(
            oid: 90_100, name: "public.d", baseOID: baseOID, baseName: baseTypeName, baseTypeName: baseTypeName, isArray: isArray)
        #expect(domain.format == format)
    }

    @Test func aDomainNotFoundIsTypedByTheBaseItsTypeMessageNames() throws {
        var cache = RelationCache()
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_020, namespace: "", name: "int8"))
        // Outside pg_catalog a built-in's name is a type of its own.
        cache.apply(PgOutputMessage.TypeMessage(oid: 90_021, namespace: "public", name: "int8"))
        cache.apply(lookedUp: [90_020, 90_021], domains: [])
        cache.apply(relation([id, column("gone", 90_020), column("own", 90_021)]))
        let cached = try #require(cache[16_384])
        #expect(cached.typeNames == ["int4", "int8", "public.int8"])
        #expect(cached.baseTypeNames == [nil, nil, nil])
        #expect(
            cached.formats == [
                PostgresValueFormat(scalar: .integer), PostgresValueFormat(scalar: .integer), PostgresValueFormat(scalar: .text),
            ])
    }
}
