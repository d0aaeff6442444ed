import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// Columns of a domain type are written as their base type (docs/CDC.md,
/// "Domains"), and schema records name both: types looked up at session
/// setup, on a normal connection while streaming, and by the snapshot.
@Suite("Ingest of domain columns against a real Postgres", .offPool)
struct IngestDomainTests {
    @Test(
        "domains over int, numeric and a domain, and an array of a domain, are typed as their base, snapshot and stream",
        .enabled(if: PostgresTestServer.isAvailable))
    func domainsAreTypedByTheirBase() async throws {
        try await IngestFixture.run(
            "ingest_domains", tables: ["ingest_domains"], createSlot: false,
            setup: """
                CREATE DOMAIN ingest_domains_posint AS int CHECK (VALUE > 0);
                CREATE DOMAIN ingest_domains_amount AS numeric(12,2);
                CREATE DOMAIN ingest_domains_small AS ingest_domains_posint CHECK (VALUE < 100);
                CREATE TABLE ingest_domains (
                    id ingest_domains_posint PRIMARY KEY, amount ingest_domains_amount, small ingest_domains_small,
                    counts ingest_domains_posint[], note text);
                INSERT INTO ingest_domains VALUES (1, 12.5, 7, '{1,2,3}', 'copied')
                """
        ) { fixture in
            try await fixture.ingest { $0.snapshot = true }
            try await fixture.sql(
                """
                INSERT INTO ingest_domains VALUES (2, 1234567890.99, 99, '{{4,NULL},{5,6}}', 'streamed');
                INSERT INTO ingest_domains VALUES (3, NULL, NULL, '{}', NULL)
                """)
            try await fixture.ingest()

            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "r"], ["s", "c", "c"]])
            try #require(transactions.count == 2 && transactions[1].count == 3)
            let columns = [
                "id public.ingest_domains_posint (int4) key", "amount public.ingest_domains_amount (numeric)",
                "small public.ingest_domains_small (int4)", "counts public._ingest_domains_posint (_int4)", "note text",
            ]
            // The snapshot describes the table from the catalog, the stream from pgoutput: the same schema.
            #expect(columnSummary(transactions[0][0]) == columns)
            #expect(columnSummary(transactions[1][0]) == columns)
            let snapshotRow = transactions[0][1]
            #expect(snapshotRow.keyText == #"{"id":1}"#)
            expectJSON(snapshotRow.after, ["id": 1, "amount": "12.50", "small": 7, "counts": [1, 2, 3], "note": "copied"])
            expectRow(
                transactions[1][1], table: "public.ingest_domains", key: ["id": 2], before: nil,
                after: [
                    "id": 2, "amount": "1234567890.99", "small": 99, "counts": [[4, NSNull()] as [Any], [5, 6]],
                    "note": "streamed",
                ])
            expectRow(
                transactions[1][2], table: "public.ingest_domains", key: ["id": 3], before: nil,
                after: ["id": 3, "amount": NSNull(), "small": NSNull(), "counts": [Int](), "note": NSNull()])
            // Numbers, not the strings of an unknown type.
            #expect(transactions[1][1].valueText.contains(#""small":99,"counts":[[4,null],[5,6]]"#))
        }
    }

    @Test(
        "a Relation bringing a domain type the session did not know is looked up while streaming; a dropped one is typed by its Type message",
        .enabled(if: PostgresTestServer.isAvailable))
    func domainsLookedUpWhileStreaming() async throws {
        try await IngestFixture.run(
            "ingest_domains_late", tables: ["ingest_domains_late"],
            setup: "CREATE TABLE ingest_domains_late (id int PRIMARY KEY, counts int[], n int)"
        ) { fixture in
            // The columns are of the domains only for the insert: at the next session's setup the table
            // has int columns again, so its look-up does not see the domains; the Relation of the insert
            // brings them. The scalar domain is dropped before any look-up can find it.
            try await fixture.sql(
                """
                CREATE DOMAIN ingest_domains_late_count AS int;
                CREATE DOMAIN ingest_domains_late_gone AS int;
                ALTER TABLE ingest_domains_late ALTER COLUMN counts TYPE ingest_domains_late_count[],
                    ALTER COLUMN n TYPE ingest_domains_late_gone
                """)
            try await fixture.sql("INSERT INTO ingest_domains_late VALUES (1, '{4,5}', 6)")
            try await fixture.sql(
                """
                ALTER TABLE ingest_domains_late ALTER COLUMN counts TYPE int[], ALTER COLUMN n TYPE int;
                DROP DOMAIN ingest_domains_late_gone
                """)
            try await fixture.sql("INSERT INTO ingest_domains_late VALUES (2, '{7}', 8)")
            try await fixture.ingest()

            let transactions = try fixture.transactions()
            #expect(transactions.map { $0.map(\.op) } == [["s", "c"], ["s", "c"]])
            try #require(transactions.count == 2 && transactions.allSatisfy { $0.count == 2 })
            // pgoutput's Type message names the dropped domain by its base type.
            #expect(
                columnSummary(transactions[0][0]) == [
                    "id int4 key", "counts public._ingest_domains_late_count (_int4)", "n int4",
                ])
            expectJSON(transactions[0][1].after, ["id": 1, "counts": [4, 5], "n": 6])
            #expect(columnSummary(transactions[1][0]) == ["id int4 key", "counts _int4", "n int4"])
            expectJSON(transactions[1][1].after, ["id": 2, "counts": [7], "n": 8])
        }
    }
}
