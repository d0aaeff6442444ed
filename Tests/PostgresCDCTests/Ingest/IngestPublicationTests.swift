import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// `PostgresIngestOptions.publications`: several publications streamed as
/// one (pgoutput's `publication_names` list), made by `create` when missing,
/// recorded in the log's `source`, and names checked before anything is made.
@Suite("Ingest from several publications against a real Postgres", .offPool)
struct IngestPublicationTests {
    @Test(
        "two publications, one publishing a partitioned table through its root: every change once, partitions named by the root",
        .enabled(if: PostgresTestServer.isAvailable))
    func twoPublications() async throws {
        try await IngestFixture.run(
            "ingest_pubs", tables: ["ingest_pubs_a", "ingest_pubs_b"], createSlot: false, publications: ["ingest_pubs_root"],
            setup: """
                CREATE TABLE ingest_pubs_parts (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
                CREATE TABLE ingest_pubs_parts_eu PARTITION OF ingest_pubs_parts FOR VALUES IN ('eu');
                CREATE TABLE ingest_pubs_parts_us PARTITION OF ingest_pubs_parts FOR VALUES IN ('us');
                CREATE TABLE ingest_pubs_a (id int PRIMARY KEY, v int);
                CREATE TABLE ingest_pubs_b (id int PRIMARY KEY, v int);
                CREATE PUBLICATION ingest_pubs_root FOR TABLE ingest_pubs_parts, ingest_pubs_a
                    WITH (publish_via_partition_root = true);
                INSERT INTO ingest_pubs_parts VALUES (1, 'eu', 10), (2, 'us', 20);
                INSERT INTO ingest_pubs_a VALUES (1, 100);
                INSERT INTO ingest_pubs_b VALUES (1, 1000)
                """
        ) { fixture in
            // ingest_pubs is made by create, for ingest_pubs_a and _b: ingest_pubs_a is in both publications.
            let publications = ["ingest_pubs_root", "ingest_pubs"]
            try await fixture.ingest {
                $0.publications = publications
                $0.snapshot = true
            }
            try await fixture.commitEach(
                "INSERT INTO ingest_pubs_parts VALUES (3, 'eu', 30), (4, 'us', 40)",
                "UPDATE ingest_pubs_parts SET region = 'us' WHERE id = 1",  // from one partition to the other
                "UPDATE ingest_pubs_parts SET v = 21 WHERE id = 2",
                "UPDATE ingest_pubs_a SET v = 101 WHERE id = 1",
                "INSERT INTO ingest_pubs_b VALUES (2, 2000)",
                "DELETE FROM ingest_pubs_parts WHERE id = 3")
            try await fixture.ingest { $0.publications = publications }

            let transactions = try fixture.transactions().map { $0.map(Self.summary) }
            try #require(transactions.count == 7, "\(transactions)")
            // The snapshot copies each table once, the partitioned one through its root.
            #expect(
                transactions[0].sorted() == [
                    #"r public.ingest_pubs_a {"id":1,"v":100}"#, #"r public.ingest_pubs_b {"id":1,"v":1000}"#,
                    #"r public.ingest_pubs_parts {"id":1,"region":"eu","v":10}"#,
                    #"r public.ingest_pubs_parts {"id":2,"region":"us","v":20}"#, "s public.ingest_pubs_a",
                    "s public.ingest_pubs_b", "s public.ingest_pubs_parts",
                ])
            #expect(
                Array(transactions.dropFirst()) == [
                    [
                        "s public.ingest_pubs_parts", #"c public.ingest_pubs_parts {"id":3,"region":"eu","v":30}"#,
                        #"c public.ingest_pubs_parts {"id":4,"region":"us","v":40}"#,
                    ],
                    [
                        #"d public.ingest_pubs_parts {"id":1,"region":"eu"}"#,
                        #"c public.ingest_pubs_parts {"id":1,"region":"us","v":10}"#,
                    ],
                    [#"u public.ingest_pubs_parts {"id":2,"region":"us","v":21}"#],
                    ["s public.ingest_pubs_a", #"u public.ingest_pubs_a {"id":1,"v":101}"#],
                    ["s public.ingest_pubs_b", #"c public.ingest_pubs_b {"id":2,"v":2000}"#],
                    [#"d public.ingest_pubs_parts {"id":3,"region":"eu"}"#],
                ])
            let made = try await fixture.sql(
                "SELECT tablename FROM pg_publication_tables WHERE pubname = 'ingest_pubs' ORDER BY 1")
            #expect(made == [["ingest_pubs_a"], ["ingest_pubs_b"]])
            #expect(try IngestSource.load(logDirectory: fixture.log.directory)?.publications == publications)
        }
    }

    @Test(
        "a log of one publication goes on with a list and back; the source records each run's list",
        .enabled(if: PostgresTestServer.isAvailable))
    func publicationsChangeBetweenRuns() async throws {
        try await IngestFixture.run(
            "ingest_pubs_change", tables: ["ingest_pubs_change_a"], publications: ["ingest_pubs_change_b"],
            setup: """
                CREATE TABLE ingest_pubs_change_a (id int PRIMARY KEY); CREATE TABLE ingest_pubs_change_b (id int PRIMARY KEY);
                CREATE PUBLICATION ingest_pubs_change_b FOR TABLE ingest_pubs_change_b
                """
        ) { fixture in
            let directory = fixture.log.directory
            let both = ["ingest_pubs_change", "ingest_pubs_change_b"]
            #expect(try IngestSource.load(logDirectory: directory)?.publications == ["ingest_pubs_change"])
            let file = directory.appending(IngestSource.fileName).string
            #expect(try String(contentsOfFile: file, encoding: .utf8).contains("\npublication=ingest_pubs_change\n"))

            try await fixture.sql("INSERT INTO ingest_pubs_change_a VALUES (1); INSERT INTO ingest_pubs_change_b VALUES (1)")
            try await fixture.ingest()
            try await fixture.sql("INSERT INTO ingest_pubs_change_a VALUES (2); INSERT INTO ingest_pubs_change_b VALUES (2)")
            try await fixture.ingest { $0.publications = both }
            #expect(try IngestSource.load(logDirectory: directory)?.publications == both)
            #expect(
                try String(contentsOfFile: file, encoding: .utf8).contains(
                    "\npublication=ingest_pubs_change,ingest_pubs_change_b\n"))
            try await fixture.sql("INSERT INTO ingest_pubs_change_a VALUES (3); INSERT INTO ingest_pubs_change_b VALUES (3)")
            try await fixture.ingest()
            #expect(try IngestSource.load(logDirectory: directory)?.publications == ["ingest_pubs_change"])

            // Row 1 of _b was committed while only ingest_pubs_change was streamed, row 3 after it was again.
            let created = try fixture.transactions().map { $0.filter { $0.op == "c" }.map(Self.summary) }
            #expect(
                created == [
                    [#"c public.ingest_pubs_change_a {"id":1}"#],
                    [#"c public.ingest_pubs_change_a {"id":2}"#, #"c public.ingest_pubs_change_b {"id":2}"#],
                    [#"c public.ingest_pubs_change_a {"id":3}"#],
                ])
        }
    }

    @Test(
        "create makes the missing publications of a list and leaves the existing one; without create it names the missing",
        .enabled(if: PostgresTestServer.isAvailable))
    func createMakesTheMissingPublications() async throws {
        let existing = "ingest_pubs_create_x"
        let missing = "ingest_pubs_create_y"
        try await IngestFixture.run(
            "ingest_pubs_create", tables: ["ingest_pubs_create_t"], createSlot: false, publications: [existing, missing],
            setup: """
                CREATE TABLE ingest_pubs_create_t (id int PRIMARY KEY); CREATE TABLE ingest_pubs_create_u (id int PRIMARY KEY);
                CREATE PUBLICATION \(existing) FOR TABLE ingest_pubs_create_u
                """
        ) { fixture in
            let publications = [existing, missing, "ingest_pubs_create"]
            let refused = try await fixture.refusal("ran without the publications") {
                $0.publications = publications
                $0.create = false
            }
            #expect(refused.code == .setupMissing)
            #expect(
                refused.message.contains("publications ingest_pubs_create_y, ingest_pubs_create do not exist"), "\(refused)")
            #expect(try await Self.tables(of: publications, fixture) == [existing: ["ingest_pubs_create_u"]])

            try await fixture.ingest { $0.publications = publications }
            #expect(
                try await Self.tables(of: publications, fixture) == [
                    existing: ["ingest_pubs_create_u"], missing: ["ingest_pubs_create_t"],
                    "ingest_pubs_create": ["ingest_pubs_create_t"],
                ])
            try await fixture.sql("INSERT INTO ingest_pubs_create_t VALUES (1); INSERT INTO ingest_pubs_create_u VALUES (1)")
            try await fixture.ingest { $0.publications = publications }
            let created = try fixture.transactions().map { $0.filter { $0.op == "c" }.map(Self.summary) }
            #expect(created == [[#"c public.ingest_pubs_create_t {"id":1}"#, #"c public.ingest_pubs_create_u {"id":1}"#]])
        }
    }

    @Test(
        "an empty, repeated, upper-case or 64-byte publication name is refused, naming it, before anything is made",
        .enabled(if: PostgresTestServer.isAvailable))
    func badNamesAreRefused() async throws {
        let long = String(repeating: "p", count: 64)
        let cases: [(publications: [String], mentions: String)] = [
            (["ingest_pubs_bad", ""], "'ingest_pubs_bad,' has an empty name"),
            (["ingest_pubs_bad", "ingest_pubs_bad_2", "ingest_pubs_bad"], "names publication ingest_pubs_bad twice"),
            (["ingest_pubs_bad", "Ingest_Pubs_Bad_Upper"], "'Ingest_Pubs_Bad_Upper' has upper-case letters"),
            (["ingest_pubs_bad", long], "'\(long)' is 64 bytes long"),
        ]
        try await IngestFixture.run("ingest_pubs_bad", tables: [], createSlot: false, setup: "SELECT 1") { fixture in
            for (publications, mentions) in cases {
                let error = try await fixture.refusal("ran with publications \(publications)") {
                    $0.publications = publications
                    $0.tables = []
                }
                #expect(error.code == .invalidPublication, "\(error)")
                #expect(error.message.contains(mentions), "\(error.message)")
            }
            let made = try await fixture.sql(
                "SELECT pubname FROM pg_publication WHERE pubname ILIKE 'ingest_pubs_bad%' OR pubname LIKE 'ppp%'")
            #expect(made.isEmpty)
            #expect(try await fixture.slotIsActive("ingest_pubs_bad") == nil, "a slot was made")
            #expect(try IngestSource.load(logDirectory: fixture.log.directory) == nil)
            #expect(fixture.log.nextOffset == 0)
        }
    }

    /// `op table row` of a record: the row after the change, for a delete the key before it.
    static func summary(_ record: IngestedRecord) -> String {
        let row = record.after ?? record.before
        return "\(record.op) \(record.table ?? "none")" + (row.map { " " + canonicalJSON($0) } ?? "")
    }

    /// The tables of each of `publications` that exists.
    static func tables(of publications: [String], _ fixture: IngestFixture) async throws -> [String: [String]] {
        let names = publications.map { "'\($0)'" }.joined(separator: ", ")
        let rows = try await fixture.sql(
            """
            SELECT p.pubname, t.tablename FROM pg_publication p
            LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname WHERE p.pubname IN (\(names)) ORDER BY 1, 2
            """)
        var tables: [String: [String]] = [:]
        for row in rows {
            guard row.count == 2, let publication = row[0] else { continue }
            tables[publication, default: []] += row[1].map { [$0] } ?? []
        }
        return tables
    }
}
