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
}
