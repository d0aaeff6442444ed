import Testing

@testable import PostgresCDC

/// `PostgresIngestOptions.publications(parsing:)` and `validatePublications`:
/// the names START_REPLICATION and `create` are given.
@Suite struct PublicationNamesTests {
    @Test(
        "a comma-separated list gives its names, spaces around them ignored",
        arguments: [
            ("orders", ["orders"]),
            ("orders,parts", ["orders", "parts"]),
            (" orders , parts\t", ["orders", "parts"]),
            ("my pub,\"quoted\",é", ["my pub", "\"quoted\"", "é"]),
            (String(repeating: "p", count: 63), [String(repeating: "p", count: 63)]),
        ])
    func parsesLists(list: String, names: [String]) throws {
        #expect(try PostgresIngestOptions.publications(parsing: list) == names)
    }

    @Test(
        "a bad name is refused with an error naming it",
        arguments: [
            ("", "the publication list '' has an empty name"),
            ("a,,b", "the publication list 'a,,b' has an empty name"),
            ("a,", "the publication list 'a,' has an empty name"),
            ("a, b,a", "the publication list 'a, b,a' names publication a twice"),
            ("orders,Parts", "publication name 'Parts' has upper-case letters"),
            ("ORDERS", "(CREATE PUBLICATION ORDERS makes orders)"),
            (String(repeating: "p", count: 64), "'\(String(repeating: "p", count: 64))' is 64 bytes long"),
            // 62 bytes and a two-byte letter: 64 bytes, 63 characters.
            (String(repeating: "p", count: 62) + "é", "is 64 bytes long"),
        ])
    func refusesBadNames(list: String, mentions: String) {
        let error = #expect(throws: IngestError.self) { try PostgresIngestOptions.publications(parsing: list) }
        #expect(error?.code == .invalidPublication)
        #expect(error?.message.contains(mentions) == true, "\(error?.message ?? "")")
    }

    @Test func optionsAreCheckedAsTheyStand() {
        let connection = PostgresConnectionConfiguration(host: "localhost", user: "u", database: "d")
        #expect(throws: Never.self) {
            try PostgresIngestOptions(connection: connection, slot: "s", publications: ["a", "b"]).validatePublications()
        }
        for publications in [[], ["a", "a"], ["a,b"], ["line\nbreak"]] {
            #expect(throws: IngestError.self, "\(publications)") {
                try PostgresIngestOptions(connection: connection, slot: "s", publications: publications)
                    .validatePublications()
            }
        }
    }
}
