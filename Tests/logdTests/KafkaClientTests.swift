import AsyncTestSupport
import Foundation
import PostgresTestSupport
import Testing

/// The Python Kafka clients (kafka-python, confluent-kafka, aiokafka), pinned in
/// Tests/KafkaClients/requirements.txt and installed in a venv by scripts/test.sh,
/// driven through Tests/KafkaClients/kafka_clients.py: JSON lines out, bytes as hex.
enum KafkaClients {
    static let all = ["kafka-python", "confluent-kafka", "aiokafka"]
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let script = root + "/Tests/KafkaClients/kafka_clients.py"

    /// The venv's python: `LOGD_KAFKA_PYTHON` (scripts/test.sh exports it), else the default venv.
    static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        let candidates = [environment["LOGD_KAFKA_PYTHON"], root + "/.build/kafka-clients-venv/bin/python"]
        return candidates.compactMap { $0 }.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
    }()
    static var isAvailable: Bool { python != nil }

    static func start(_ client: String, _ action: String, _ arguments: [String], input: String = "") throws -> ChildProcess {
        let child = try ChildProcess(
            executable: try #require(python), arguments: [script, client, action] + arguments,
            environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        child.writeInBackground(Array(input.utf8))
        return child
    }

    /// Runs the driver to its end; its JSON lines, parsed.
    static func run(
        _ client: String, _ action: String, _ arguments: [String], input: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> [[String: Any]] {
        let child = try start(client, action, arguments, input: input)
        let termination = try child.wait(timeout: .seconds(90), sourceLocation: sourceLocation)
        #expect(
            termination == .exited(0), "\(client) \(action) \(arguments.joined(separator: " ")): \(child.stderr.text)",
            sourceLocation: sourceLocation)
        return try lines(child.stdout.text)
    }

    static func lines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try parseJSONObject(String($0)) }
    }

    static func hex(_ text: String) -> String { hex(Array(text.utf8)) }
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func text(_ hex: Any?) -> String? {
        guard let hex = hex as? String else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One message for the driver's `produce`, and what a consumer must see of it.
struct TestMessage {
    var key: [UInt8]?
    var value: String?
    var headers: [(String, String)] = []
    var timestamp: Int64?

    var json: String {
        var fields = [
            "\"key\": \(key.map { "\"\(KafkaClients.hex($0))\"" } ?? "null")",
            "\"value\": \(value.map { "\"\(KafkaClients.hex($0))\"" } ?? "null")",
            "\"headers\": [\(headers.map { "[\"\($0.0)\", \"\(KafkaClients.hex($0.1))\"]" }.joined(separator: ", "))]",
        ]
        if let timestamp { fields.append("\"timestamp\": \(timestamp)") }
        return "{" + fields.joined(separator: ", ") + "}"
    }

    /// Whether a consumed record (a driver line) carries exactly this message.
    func matches(_ record: [String: Any]) -> Bool {
        let recordHeaders = (record["headers"] as? [[Any]] ?? []).map {
            ($0.first as? String ?? "", KafkaClients.text($0.last) ?? "")
        }
        return (record["key"] as? String) == key.map(KafkaClients.hex)
            && (value == nil ? record["value"] is NSNull : KafkaClients.text(record["value"]) == value)
            && recordHeaders.map(\.0) == headers.map(\.0) && recordHeaders.map(\.1) == headers.map(\.1)
            && (timestamp == nil || jsonInt(record["timestamp"]) == timestamp)
    }
}

@Suite("logd serve with kafka-python, confluent-kafka and aiokafka", .serialized)
struct KafkaClientTests {
    @Test("CI has the Kafka clients' venv: these tests fail rather than skip there")
    func clientsAreInstalledOnCI() {
        guard ProcessInfo.processInfo.environment["CI"] != nil else { return }
        #expect(KafkaClients.isAvailable, "CI is set but the venv is missing (scripts/lib/kafka-clients.sh makes it)")
    }

    @Test(
        "metadata; produce with acks 0, 1, all and idempotent; consume from the start, an offset, a timestamp and the end, byte for byte",
        .enabled(if: KafkaClients.isAvailable), arguments: KafkaClients.all)
    func produceAndConsume(client: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "orders"), input: Array("from logd\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            defer { server.send(SIGKILL) }
            let port = try #require(broker.split(separator: ":").last.flatMap { Int($0) })

            let metadata = try #require(try KafkaClients.run(client, "metadata", ["--bootstrap", broker]).first)
            #expect((metadata["topics"] as? [String: Any])?["orders"] as? Int == 1, "\(metadata)")
            let brokers = metadata["brokers"] as? [[Any]] ?? []
            #expect(brokers.count == 1 && brokers.first?[1] as? String == "127.0.0.1" && brokers.first?[2] as? Int == port)
            let fromLogd = try KafkaClients.run(client, "consume", ["--bootstrap", broker, "--topic", "orders", "--count", "1"])
            #expect(KafkaClients.text(fromLogd.first?["value"]) == "from logd", "a record written by logd append")

            let topic = "t-\(client)"
            let base: Int64 = 1_700_000_000_000
            var sent: [TestMessage] = []
            for (index, mode) in [["--acks", "1"], ["--acks", "all"], ["--acks", "0"], ["--idempotent"]].enumerated() {
                let messages = (0..<3).map { number in
                    let n = index * 3 + number
                    return TestMessage(
                        key: n % 3 == 2 ? nil : [0xFF, 0x00, UInt8(n)], value: n == 4 ? nil : "value \(n) é",
                        headers: n % 2 == 0 ? [("h", "header \(n)"), ("empty", "")] : [], timestamp: base + Int64(n) * 1000)
                }
                let input = messages.map(\.json).joined(separator: "\n") + "\n"
                let results = try KafkaClients.run(
                    client, "produce", ["--bootstrap", broker, "--topic", topic, "--linger-ms", "5"] + mode, input: input)
                #expect(results.count == 3, "\(mode): \(results)")
                if mode != ["--acks", "0"] {
                    #expect(results.compactMap { jsonInt($0["offset"]) } == (0..<3).map { Int64(index * 3 + $0) }, "\(mode)")
                }
                sent += messages
            }

            let all = try KafkaClients.run(client, "consume", ["--bootstrap", broker, "--topic", topic, "--count", "12"])
            #expect(all.compactMap { jsonInt($0["offset"]) } == Array(0..<12))
            for (message, record) in zip(sent, all) { #expect(message.matches(record), "\(message.json) vs \(record)") }
            let middle = try KafkaClients.run(
                client, "consume", ["--bootstrap", broker, "--topic", topic, "--count", "2", "--from", "offset:5"])
            #expect(middle.compactMap { jsonInt($0["offset"]) } == [5, 6])
            let byTime = try KafkaClients.run(
                client, "consume",
                ["--bootstrap", broker, "--topic", topic, "--count", "1", "--from", "timestamp:\(base + 7500)"])
            #expect(byTime.first.flatMap { jsonInt($0["offset"]) } == 8, "the first record at or after the timestamp")

            // From the end: the consumer is positioned, then a record is produced.
            let waiting = try KafkaClients.start(
                client, "consume", ["--bootstrap", broker, "--topic", topic, "--count", "1", "--from", "latest"])
            let ready = waiting.stdout.waitForLines(timeout: .seconds(60)) { $0.contains { $0.contains("ready") } }
            #expect(ready != nil, "\(waiting.stderr.text)")
            _ = try KafkaClients.run(
                client, "produce", ["--bootstrap", broker, "--topic", topic], input: TestMessage(value: "late").json + "\n")
            #expect(try waiting.wait(timeout: .seconds(60)) == .exited(0), "\(waiting.stderr.text)")
            let late = try KafkaClients.lines(waiting.stdout.text).last
            #expect(late.flatMap { jsonInt($0["offset"]) } == 12 && KafkaClients.text(late?["value"]) == "late")

            try LogdServe.stop(server)
            let read = try Logd.run(directory.args("read", topic, "--format", "json"))
            #expect(read.succeeded, "\(read)")
            let values = try read.lines.map { try parseJSONObject($0)["value"] as? String }
            #expect(values == sent.map(\.value) + ["late"], "logd read sees the clients' records")
            try directory.expectVerifies(topic)
        }
    }

    @Test(
        "a group consumes, commits, resumes from its commit; commit metadata round-trips; logd read --group continues the group",
        .enabled(if: KafkaClients.isAvailable), arguments: KafkaClients.all)
    func groupCommitsAndResumes(client: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "events"), input: Array("e0\ne1\ne2\ne3\ne4\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            let group = "g-\(client)"
            let common = ["--bootstrap", broker, "--topic", "events", "--group", group]

            let first = try KafkaClients.run(client, "group-consume", common + ["--count", "3"])
            #expect(first.compactMap { jsonInt($0["offset"]) } == [0, 1, 2])
            #expect(first.last.flatMap { jsonInt($0["committed"]) } == 3)
            #expect(try KafkaClients.run(client, "committed", common).first.flatMap { jsonInt($0["offset"]) } == 3)
            let resumed = try KafkaClients.run(client, "group-consume", common + ["--count", "2"])
            #expect(resumed.compactMap { jsonInt($0["offset"]) } == [3, 4], "resumes at the commit")

            let metadata = "from \(client): é"
            _ = try KafkaClients.run(client, "commit", common + ["--offset", "1", "--metadata", metadata])
            let committed = try #require(try KafkaClients.run(client, "committed", common).first)
            #expect(jsonInt(committed["offset"]) == 1 && committed["metadata"] as? String == metadata, "\(committed)")

            // The same group continues with logd read --group, and back.
            let read = try Logd.run(directory.args("read", "events", "--group", group, "--count", "2"))
            #expect(read.output == "e1\ne2\n", "\(read)")
            let back = try KafkaClients.run(client, "group-consume", common + ["--count", "2"])
            #expect(back.compactMap { jsonInt($0["offset"]) } == [3, 4])
            let groups = try Logd.run(directory.args("groups", "events"))
            #expect(groups.lines.contains { $0.split(separator: " ").map(String.init) == [group, "5", "0"] }, "\(groups)")

            try LogdServe.stop(server)
            try directory.expectVerifies("events")
        }
    }

    @Test(
        "each client creates topics with configs and partitions (CreateTopics), adds partitions (CreatePartitions) and deletes them (DeleteTopics); what logd cannot serve, or a log another process holds, is refused with the error and nothing changes",
        .enabled(if: KafkaClients.isAvailable), arguments: KafkaClients.all)
    func createAndDeleteTopics(client: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            func create(_ topic: String, _ extra: [String] = []) throws -> (code: Int64?, message: String?) {
                let result = try #require(
                    try KafkaClients.run(client, "create-topic", ["--bootstrap", broker, "--topic", topic] + extra).first)
                return (jsonInt(result["error_code"]), result["message"] as? String)
            }
            let made = try create("made", ["--config", "cleanup.policy=compact", "--config", "retention.ms=60000"])
            #expect(made.code == 0, "\(made)")
            let config = try Logd.run(directory.args("config", "made"))
            #expect(config.lines.contains("cleanup.policy=compact") && config.lines.contains("retention.ms=60000"), "\(config)")
            let metadata = try #require(try KafkaClients.run(client, "metadata", ["--bootstrap", broker]).first)
            #expect((metadata["topics"] as? [String: Any])?["made"] as? Int == 1, "\(metadata)")

            #expect(try create("made").code == 36, "TOPIC_ALREADY_EXISTS")
            // Several partitions, and more added (CreatePartitions): a topic grows, never shrinks.
            #expect(try create("parts", ["--partitions", "3"]).code == 0)
            func partitionCount(_ topic: String) throws -> Int? {
                let metadata = try #require(try KafkaClients.run(client, "metadata", ["--bootstrap", broker]).first)
                return (metadata["topics"] as? [String: Any])?[topic] as? Int
            }
            #expect(try partitionCount("parts") == 3)
            func grow(_ topic: String, to count: Int) throws -> (code: Int64?, message: String?) {
                let result = try #require(
                    try KafkaClients.run(
                        client, "create-partitions", ["--bootstrap", broker, "--topic", topic, "--count", "\(count)"]
                    ).first)
                return (jsonInt(result["error_code"]), result["message"] as? String)
            }
            #expect(try grow("parts", to: 5).code == 0)
            #expect(try partitionCount("parts") == 5)
            let shrink = try grow("parts", to: 2)
            #expect(shrink.code == 37, "INVALID_PARTITIONS: \(shrink)")
            #expect(try partitionCount("parts") == 5)
            #expect(try grow("missing", to: 2).code == 3, "UNKNOWN_TOPIC_OR_PARTITION")
            let tooMany = try create("toomany", ["--partitions", "300"])
            #expect(tooMany.code == 37 && tooMany.message?.contains("1 to 256 partitions") == true, "\(tooMany)")
            #expect(try create("replicas", ["--replication", "3"]).code == 38, "INVALID_REPLICATION_FACTOR")
            let badConfig = try create("badconfig", ["--config", "no.such.key=1"])
            #expect(badConfig.code == 40 && badConfig.message?.contains("no.such.key") == true, "\(badConfig)")
            #expect(try create("checked", ["--validate-only"]).code == 0)
            // message.format.version: checked and ignored, as Kafka 3.0+ does.
            #expect(try create("oldformat", ["--validate-only", "--config", "message.format.version=0.10.0"]).code == 0)
            #expect(try create("oldformat", ["--config", "message.format.version=new"]).code == 40)
            #expect(try create("bad/name").code == 17, "INVALID_TOPIC_EXCEPTION")
            #expect(try create("not#legal").code == 17, "a name Kafka refuses, though a log could take it")
            func logs() throws -> [String?] {
                try Logd.run(directory.args("list")).lines.filter { !$0.isEmpty }.map {
                    $0.split(separator: " ").first.map(String.init)
                }
            }
            #expect(try logs() == ["made", "parts"], "only the topics made, nothing of the refused ones")
            let partitionLogs = try FileManager.default.contentsOfDirectory(atPath: directory.log("parts") + "/partitions")
            #expect(partitionLogs.sorted() == ["1", "2", "3", "4"], "partitions 1-4 are logs inside partition 0's")

            if client == "confluent-kafka" {
                // DescribeConfigs and AlterConfigs (driven with confluent-kafka's admin API).
                func describe(_ topic: String) throws -> [String: Any] {
                    try #require(
                        try KafkaClients.run(client, "describe-configs", ["--bootstrap", broker, "--topic", topic]).first)
                }
                var described = try describe("made")
                var configs = described["configs"] as? [String: String] ?? [:]
                #expect(configs["cleanup.policy"] == "compact" && configs["retention.ms"] == "60000", "\(described)")
                #expect(configs["segment.bytes"] == String(256 << 20) && configs.count == 8, "every setting, defaults too")
                #expect((described["defaults"] as? [String])?.contains("cleanup.policy") == false)
                let altered = try #require(
                    try KafkaClients.run(
                        client, "alter-configs",
                        ["--bootstrap", broker, "--topic", "made", "--config", "retention.bytes=1048576"]
                    ).first)
                #expect(jsonInt(altered["error_code"]) == 0, "\(altered)")
                described = try describe("made")
                configs = described["configs"] as? [String: String] ?? [:]
                #expect(
                    configs["retention.bytes"] == "1048576" && configs["cleanup.policy"] == "delete",
                    "replaced whole: \(described)")
                #expect(try Logd.run(directory.args("config", "made")).lines.contains("retention.bytes=1048576"))
                let refused = try #require(
                    try KafkaClients.run(
                        client, "alter-configs", ["--bootstrap", broker, "--topic", "made", "--config", "nope=1"]
                    )
                    .first)
                #expect(jsonInt(refused["error_code"]) == 40, "\(refused)")
                #expect(jsonInt(try describe("missing")["error_code"]) == 3)
            }

            // Deleted with its committed offsets; a second delete finds nothing.
            _ = try KafkaClients.run(
                client, "commit", ["--bootstrap", broker, "--topic", "made", "--group", "g", "--offset", "0"])
            func delete(_ topic: String) throws -> Int64? {
                let result = try KafkaClients.run(client, "delete-topic", ["--bootstrap", broker, "--topic", topic]).first
                return jsonInt(result?["error_code"])
            }
            let deleted = try delete("made")
            #expect(deleted == 0, "\(String(describing: deleted)); server: \(server.stderr.text.suffix(3000))")
            #expect(try delete("parts") == 0)
            #expect(try logs() == [], "the logs' directories are gone, every partition's with its topic")
            let after = try #require(try KafkaClients.run(client, "metadata", ["--bootstrap", broker]).first)
            #expect((after["topics"] as? [String: Any])?["made"] == nil, "\(after)")
            #expect(try delete("made") == 3, "UNKNOWN_TOPIC_OR_PARTITION")

            // A log another process has open (an appender waiting for input) is not deleted.
            let appender = try Logd.start(directory.args("append", "held", "--sync", "always"))
            _ = appender.write(Array("kept\n".utf8))
            #expect(appender.stdout.waitForLines(timeout: .seconds(30)) { !$0.isEmpty } != nil, "\(appender.stderr.text)")
            #expect(try delete("held") == -1, "UNKNOWN_SERVER_ERROR: the log is open in another process")
            let grown = try grow("held", to: 2)
            #expect(grown.code == 44 && grown.message?.contains("another process") == true, "POLICY_VIOLATION: \(grown)")
            appender.closeInput()
            #expect(try appender.wait(timeout: .seconds(30)) == .exited(0))
            #expect(try Logd.run(directory.args("read", "held")).output == "kept\n")
            #expect(server.stderr.text.contains("kafka.delete_topic_failed"))
            try LogdServe.stop(server)
            try directory.expectVerifies("held")
        }
    }

    @Test(
        "each client produces with every codec; logd read, logd stat and the client's consumer read the batches as sent",
        .enabled(if: KafkaClients.isAvailable), arguments: KafkaClients.all, ["gzip", "snappy", "lz4", "zstd"])
    func everyCodec(client: String, codec: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            let (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            defer { server.send(SIGKILL) }
            let messages = (0..<200).map {
                TestMessage(key: Array("k\($0 % 7)".utf8), value: "record \($0) " + String(repeating: "compressible ", count: 20))
            }
            let produced = try KafkaClients.run(
                client, "produce",
                ["--bootstrap", broker, "--topic", codec, "--compression", codec, "--linger-ms", "50", "--acks", "all"],
                input: messages.map(\.json).joined(separator: "\n") + "\n")
            #expect(produced.compactMap { jsonInt($0["offset"]) } == Array(0..<200))
            let consumed = try KafkaClients.run(
                client, "consume", ["--bootstrap", broker, "--topic", codec, "--count", "197", "--from", "offset:3"])
            #expect(consumed.compactMap { jsonInt($0["offset"]) } == Array(3..<200), "from inside a compressed batch")
            for (message, record) in zip(messages.dropFirst(3), consumed) { #expect(message.matches(record)) }
            try LogdServe.stop(server)
            let read = try Logd.run(directory.args("read", codec))
            #expect(read.lines == messages.compactMap(\.value), "\(read.errorOutput)")
            let stat = try parseJSONObject(try Logd.run(directory.args("stat", codec, "--json")).output)
            #expect((jsonInt(stat["compressed_batches"]) ?? 0) > 0, "stored as the producer compressed it: \(stat)")
            #expect((stat["compressed_batches_by_codec"] as? [String: Any])?[codec] != nil, "\(stat)")
            try directory.expectVerifies(codec)
        }
    }

    @Test(
        "changes a running logd ingest postgres writes reach each client live (the log served read-only), as logd read shows them",
        .enabled(if: KafkaClients.isAvailable && PostgresTestServer.isAvailable))
    func ingestedChangesReachEveryClient() async throws {
        try await offPool {
            let postgres = try PostgresTestServer.require()
            let directory = try TestDirectory()
            let database = try await IngestDatabase.create(on: postgres, name: "kafka")
            _ = try await database.sql("CREATE TABLE items (id int PRIMARY KEY, name text)")
            let ingest = directory.args(
                "ingest", "postgres", "items", "--dsn", database.dsn, "--slot", "kafka_slot", "--publication", "kafka_pub",
                "--create")
            let created = try Logd.run(ingest + ["--until-caught-up"], timeout: .seconds(120))
            #expect(created.succeeded, "\(created)")
            let ingester = try Logd.start(ingest)
            defer { ingester.send(SIGKILL) }
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            // A first change in the ingester's session comes after a schema record: let it land first,
            // so that each insert below is one record.
            _ = try await database.sql("INSERT INTO items VALUES (100, 'warm-up')")
            let deadline = ContinuousClock.now + .seconds(60)
            while try !Logd.run(directory.args("read", "items")).output.contains("warm-up"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }

            for (number, client) in KafkaClients.all.enumerated() {
                let consumer = try KafkaClients.start(
                    client, "consume", ["--bootstrap", broker, "--topic", "items", "--count", "1", "--from", "latest"])
                let ready = consumer.stdout.waitForLines(timeout: .seconds(60)) { $0.contains { $0.contains("ready") } }
                #expect(ready != nil, "\(client): \(consumer.stderr.text)")
                _ = try await database.sql("INSERT INTO items VALUES (\(number), 'item \(number) é')")
                #expect(try consumer.wait(timeout: .seconds(60)) == .exited(0), "\(client): \(consumer.stderr.text)")
                let record = try #require(try KafkaClients.lines(consumer.stdout.text).last { $0["offset"] != nil })
                let offset = try #require(jsonInt(record["offset"]))
                let read = try Logd.run(
                    directory.args("read", "items", "--from", "\(offset)", "--count", "1", "--format", "json"))
                let stored = try parseJSONObject(try #require(read.lines.first, "\(read)"))
                #expect(KafkaClients.text(record["value"]) == stored["value"] as? String, "\(client)")
                #expect(KafkaClients.text(record["key"]) == stored["key"] as? String, "\(client)")
                let headers = Dictionary(
                    (record["headers"] as? [[Any]] ?? []).map { ($0.first as? String ?? "", KafkaClients.text($0.last) ?? "") },
                    uniquingKeysWith: { first, _ in first })
                #expect(headers == (stored["headers"] as? [String: String]), "\(client): the CDC headers, byte for byte")
                #expect((stored["value"] as? String)?.contains("item \(number)") == true, "\(stored)")
            }
            ingester.send(SIGTERM)
            #expect(try ingester.wait(timeout: .seconds(60)) == .exited(0))
            try LogdServe.stop(server)
            try directory.expectVerifies("items")
        }
    }

    /// Each client with the assignors it offers (aiokafka has no cooperative one).
    static let assignorCases: [(String, String)] = [
        ("confluent-kafka", "range"), ("confluent-kafka", "roundrobin"), ("confluent-kafka", "cooperative-sticky"),
        ("kafka-python", "range"), ("kafka-python", "cooperative-sticky"), ("aiokafka", "roundrobin"),
    ]

    @Test(
        "two members of one group across a rebalance: the newcomer joins, leaves, the first gets the partition back and reads on",
        .enabled(if: KafkaClients.isAvailable), arguments: assignorCases)
    func twoMembersRebalance(client: String, assignor: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "shared"), input: Array("s0\ns1\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            let common = ["--bootstrap", broker, "--topic", "shared", "--group", "pair", "--assignor", assignor]
            let first = try KafkaClients.start(client, "group-member", common + ["--hold", "16"])
            let assigned = first.stdout.waitForLines(timeout: .seconds(30)) { $0.contains { $0.contains("\"assigned\": [0]") } }
            #expect(assigned != nil, "the first member gets partition 0: \(first.stderr.text)")

            let second = try KafkaClients.start(client, "group-member", common + ["--hold", "5"])
            #expect(try second.wait(timeout: .seconds(60)) == .exited(0), "\(second.stderr.text)")
            let secondLines = try KafkaClients.lines(second.stdout.text)
            #expect(secondLines.contains { $0["assigned"] != nil }, "the newcomer was in a generation: \(second.stdout.text)")
            _ = try KafkaClients.run(
                client, "produce", ["--bootstrap", broker, "--topic", "shared"], input: TestMessage(value: "after").json + "\n")

            #expect(try first.wait(timeout: .seconds(60)) == .exited(0), "\(first.stderr.text)")
            let firstLines = try KafkaClients.lines(first.stdout.text)
            let assignments = firstLines.compactMap { $0["assigned"] as? [Int] }
            #expect(assignments.last == [0], "the partition comes back to the first member: \(assignments)")
            let values = (firstLines + secondLines).compactMap { KafkaClients.text($0["value"]) }
            #expect(Set(values) == ["s0", "s1", "after"], "every record read by one member or the other: \(values)")
            try LogdServe.stop(server)
            try directory.expectVerifies("shared")
        }
    }

    @Test(
        "kill -9 of the server during an idempotent acks=all produce, 3 times: every acknowledged record is in the log once",
        .enabled(if: KafkaClients.isAvailable))
    func killDuringIdempotentProduce() async throws {
        try await offPool {
            let directory = try TestDirectory()
            var (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            defer { server.send(SIGKILL) }
            let listen = broker
            var acknowledged: [String: Int64] = [:]
            var sentValues: [String] = []
            var killsDuringProduce = 0
            for round in 0..<3 {
                let values = (0..<40_000).map { "round \(round) record \($0) " + String(repeating: "x", count: 60) }
                sentValues += values
                let producer = try KafkaClients.start(
                    "confluent-kafka", "produce",
                    ["--bootstrap", broker, "--topic", "durable", "--idempotent", "--linger-ms", "5", "--timeout", "90"],
                    input: values.map { TestMessage(value: $0).json }.joined(separator: "\n") + "\n")
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...900)))
                if !producer.hasExited { killsDuringProduce += 1 }
                _ = try server.kill()
                try await Task.sleep(for: .milliseconds(300))
                (server, _) = try LogdServe.start(directory, ["--auto-create-topics"], listen: listen)
                #expect(
                    try producer.wait(timeout: .seconds(120)) == .exited(0),
                    "round \(round): \(producer.stderr.text.suffix(2000))")
                let results = try KafkaClients.lines(producer.stdout.text)
                #expect(results.count == values.count)
                for (value, result) in zip(values, results) {
                    if let offset = jsonInt(result["offset"]) { acknowledged[value] = offset }
                }
            }
            #expect(killsDuringProduce > 0, "at least one kill lands while the producer is still producing")
            #expect(acknowledged.count == sentValues.count, "the producer got every record acknowledged in the end")
            try LogdServe.stop(server)
            let read = try Logd.run(directory.args("read", "durable", "--format", "json"))
            #expect(read.succeeded, "\(read.errorOutput.suffix(500))")
            var stored: [String: [Int64]] = [:]
            for line in read.lines {
                let object = try parseJSONObject(line)
                if let value = object["value"] as? String, let offset = jsonInt(object["offset"]) {
                    stored[value, default: []].append(offset)
                }
            }
            let duplicated = stored.filter { $0.value.count > 1 }
            #expect(duplicated.isEmpty, "stored more than once: \(duplicated.prefix(5))")
            let misplaced = acknowledged.filter { stored[$0.key] != [$0.value] }
            #expect(
                misplaced.isEmpty,
                "acknowledged but not at their offset: \(misplaced.prefix(5).map { ($0.key, $0.value, stored[$0.key] ?? []) })")
            try directory.expectVerifies("durable")
        }
    }

    @Test(
        "transactions: read_committed consumers see committed ones only, read_uncommitted all; an open one holds read_committed back until its timeout or a restart aborts it; logd read skips the markers",
        .enabled(if: KafkaClients.isAvailable), arguments: KafkaClients.all)
    func transactions(client: String) async throws {
        try await offPool {
            let directory = try TestDirectory()
            var (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            defer { server.send(SIGKILL) }
            let topic = "tx-\(client)"
            func input(_ values: [String]) -> String { values.map { TestMessage(value: $0).json + "\n" }.joined() }
            func transact(_ values: [String], _ end: String, id: String, timeoutMs: Int = 60000) throws -> [Int64] {
                let lines = try KafkaClients.run(
                    client, "transact",
                    [
                        "--bootstrap", broker, "--topic", topic, "--transactional-id", id, "--end", end,
                        "--transaction-timeout-ms", String(timeoutMs),
                    ], input: input(values))
                if end != "none" { #expect(lines.last?["ended"] as? String == end, "\(lines)") }
                return lines.compactMap { jsonInt($0["offset"]) }
            }
            func consume(_ count: Int, _ isolation: String, from: String = "earliest") throws -> [(Int64, String)] {
                try KafkaClients.run(
                    client, "consume",
                    ["--bootstrap", broker, "--topic", topic, "--count", String(count), "--isolation", isolation, "--from", from]
                ).compactMap { record in jsonInt(record["offset"]).map { ($0, KafkaClients.text(record["value"]) ?? "") } }
            }
            func produce(_ value: String) throws -> Int64? {
                try KafkaClients.run(client, "produce", ["--bootstrap", broker, "--topic", topic], input: input([value]))
                    .first.flatMap { jsonInt($0["offset"]) }
            }

            // Each transaction ends with a marker, which takes an offset.
            #expect(try transact(["a0", "a1", "a2"], "commit", id: "t1") == [0, 1, 2])
            #expect(try transact(["b0", "b1"], "abort", id: "t1") == [4, 5])
            #expect(try produce("p0") == 7)
            #expect(try transact(["c0"], "commit", id: "t2") == [8])
            let committed = try consume(5, "read_committed")
            #expect(committed.map(\.1) == ["a0", "a1", "a2", "p0", "c0"], "\(committed)")
            #expect(committed.map(\.0) == [0, 1, 2, 7, 8])
            let uncommitted = try consume(7, "read_uncommitted")
            #expect(uncommitted.map(\.1) == ["a0", "a1", "a2", "b0", "b1", "p0", "c0"], "\(uncommitted)")

            // A transaction left open (its producer gone) holds read_committed consumers at its start...
            #expect(try transact(["d0"], "none", id: "t3") == [10])
            #expect(try produce("p1") == 11)
            let held = try KafkaClients.start(
                client, "consume",
                [
                    "--bootstrap", broker, "--topic", topic, "--count", "1", "--isolation", "read_committed", "--from",
                    "offset:10", "--timeout", "4",
                ])
            #expect(try held.wait(timeout: .seconds(60)) == .exited(1), "nothing past the open transaction: \(held.stdout.text)")
            // ... until a restart aborts it: the server finishes what it finds open.
            try LogdServe.stop(server)
            (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            let afterRestart = try consume(1, "read_committed", from: "offset:10")
            #expect(afterRestart.map(\.1) == ["p1"], "\(afterRestart)")

            // A transaction open past its timeout is aborted by the server.
            #expect(try transact(["e0"], "none", id: "t4", timeoutMs: 1000).count == 1)
            #expect(try produce("p2") != nil)
            let last = try consume(2, "read_committed", from: "offset:11")
            #expect(last.map(\.1) == ["p1", "p2"], "\(last)")

            try LogdServe.stop(server)
            let read = try Logd.run(directory.args("read", topic))
            #expect(read.lines == ["a0", "a1", "a2", "b0", "b1", "p0", "c0", "d0", "p1", "e0", "p2"], "\(read)")
            try directory.expectVerifies(topic)
        }
    }
}
