import AsyncTestSupport
import Foundation
import LogStore
import Testing

/// `kcat` (librdkafka), a real Kafka client, against `logd serve`.
enum Kcat {
    static let path = ["/usr/bin/kcat", "/usr/local/bin/kcat"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isAvailable: Bool { path != nil }

    /// Runs kcat to its end and returns its standard output.
    static func run(_ arguments: [String], input: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws -> String
    {
        let child = try ChildProcess(
            executable: try #require(path, sourceLocation: sourceLocation), arguments: arguments,
            environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
        child.writeInBackground(Array(input.utf8))
        let termination = try child.wait(timeout: .seconds(30), sourceLocation: sourceLocation)
        #expect(
            termination == .exited(0), "kcat \(arguments.joined(separator: " ")): \(child.stderr.text)",
            sourceLocation: sourceLocation)
        return child.stdout.text
    }
}

/// `logd serve` for the tests that drive it with real clients.
enum LogdServe {
    /// Starts `logd serve` on `listen` (a free loopback port by default) and returns it with its address.
    static func start(_ directory: TestDirectory, _ extra: [String] = [], listen: String = "127.0.0.1:0") throws -> (
        ChildProcess, String
    ) {
        let server = try Logd.start(directory.args(["serve", "--listen", listen] + extra))
        let lines = server.stderr.waitForLines(timeout: .seconds(30)) { $0.contains { $0.hasPrefix("serving ") } }
        let line = try #require(lines?.first { $0.hasPrefix("serving ") }, "no 'serving' line: \(server.stderr.text)")
        let port = try #require(line.split(separator: ":").last.map(String.init))
        return (server, "127.0.0.1:\(port)")
    }

    /// SIGTERM: the server stops cleanly, with exit status 0.
    static func stop(_ server: ChildProcess, sourceLocation: SourceLocation = #_sourceLocation) throws {
        server.send(SIGTERM)
        #expect(
            try server.wait(timeout: .seconds(30)) == .exited(0), "\(server.stderr.text.suffix(1000))",
            sourceLocation: sourceLocation)
    }
}

@Suite("logd serve: the Kafka protocol, with kcat", .serialized)
struct ServeTests {
    @Test("CI has kcat: the serve tests fail rather than skip there")
    func kcatIsInstalledOnCI() {
        guard ProcessInfo.processInfo.environment["CI"] != nil else { return }
        #expect(Kcat.isAvailable, "CI is set but kcat is missing (scripts/lib/apt.sh installs it)")
    }

    @Test(
        "metadata, produce with acks 0, 1 and all (plain and gzip), consume from the start, an offset and the end; logd read sees it",
        .enabled(if: Kcat.isAvailable))
    func produceAndConsume() async throws {
        try await offPool {
            let directory = try TestDirectory()
            // One gzip batch written by logd (values that compress, or it is stored uncompressed).
            let padding = String(repeating: "-", count: 300)
            let appended = try Logd.run(
                directory.args("append", "orders", "--compression", "gzip"),
                input: Array("a\(padding)\nb\(padding)\nc\(padding)\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }

            let metadata = try Kcat.run(["-b", broker, "-L"])
            #expect(metadata.contains("broker 0 at \(broker)"))
            #expect(metadata.contains("topic \"orders\" with 1 partitions"))

            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders", "-K", ":", "-X", "acks=all"], input: "k1:v1\nk2:v2\n")
            // librdkafka 2.0 sends this uncompressed: it compresses only for brokers that advertise Produce v2 (docs/KAFKA.md).
            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders", "-z", "gzip", "-X", "acks=1"], input: "g1\ng2\ng3\n")
            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders", "-X", "acks=0"], input: "z0\n")

            let all = try Kcat.run(["-b", broker, "-C", "-t", "orders", "-e", "-f", "%o %k=%s\\n"])
            #expect(all == "0 =a\(padding)\n1 =b\(padding)\n2 =c\(padding)\n3 k1=v1\n4 k2=v2\n5 =g1\n6 =g2\n7 =g3\n8 =z0\n")
            let fromOne = try Kcat.run(["-b", broker, "-C", "-t", "orders", "-o", "1", "-c", "2", "-f", "%o %s\\n"])
            #expect(
                fromOne == "1 b\(padding)\n2 c\(padding)\n",
                "an offset inside a gzip batch: the client skips the records before it")
            let lastTwo = try Kcat.run(["-b", broker, "-C", "-t", "orders", "-o", "-2", "-e", "-f", "%o %s\\n"])
            #expect(lastTwo == "7 g3\n8 z0\n")

            // A long-polling consumer is woken by a produce.
            let consumer = try ChildProcess(
                executable: try #require(Kcat.path),
                arguments: ["-b", broker, "-C", "-t", "orders", "-o", "end", "-c", "1", "-f", "%o %s\\n"],
                environment: ProcessInfo.processInfo.environment, workingDirectory: nil)
            try await Task.sleep(for: .seconds(1))
            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders"], input: "late\n")
            #expect(try consumer.wait(timeout: .seconds(30)) == .exited(0))
            #expect(consumer.stdout.text == "9 late\n")

            try LogdServe.stop(server)
            let read = try Logd.run(directory.args("read", "orders", "--from", "3", "--count", "7"))
            #expect(read.succeeded, "\(read)")
            #expect(read.output == "v1\nv2\ng1\ng2\ng3\nz0\nlate\n")
            let stat = try Logd.run(directory.args("stat", "orders", "--json"))
            #expect(stat.output.contains("\"compressed_batches\":1"), "logd's gzip batch, served to kcat, is as it was: \(stat)")
            try directory.expectVerifies("orders")
        }
    }

    @Test(
        "a missing topic is unknown, unless --auto-create-topics: then producing to it creates its log; the cluster id stays",
        .enabled(if: Kcat.isAvailable))
    func autoCreateTopics() async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "orders"), input: Array("a\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (plain, plainBroker) = try LogdServe.start(directory)
            let missing = try Kcat.run(["-b", plainBroker, "-L", "-t", "fresh"])
            #expect(missing.contains("Unknown topic or partition"), "\(missing)")
            try LogdServe.stop(plain)
            #expect(try Logd.run(directory.args("list")).lines == ["orders"])
            let clusterID = try String(contentsOfFile: directory.data + "/cluster-id", encoding: .utf8)
            #expect(clusterID.count == 23, "22 characters and a line feed: \(clusterID)")

            let (server, broker) = try LogdServe.start(directory, ["--auto-create-topics"])
            defer { server.send(SIGKILL) }
            _ = try Kcat.run(["-b", broker, "-P", "-t", "fresh", "-X", "acks=all"], input: "first\nsecond\n")
            #expect(try Kcat.run(["-b", broker, "-C", "-t", "fresh", "-e", "-f", "%o %s\\n"]) == "0 first\n1 second\n")
            // A name Kafka refuses is never created, though a log could take it (librdkafka's test 0057).
            let refused = try Kcat.run(["-b", broker, "-L", "-t", "not#legal"])
            #expect(refused.contains("Invalid topic"), "\(refused)")
            try LogdServe.stop(server)
            #expect(try Logd.run(directory.args("list")).lines == ["fresh", "orders"])
            #expect(
                try String(contentsOfFile: directory.data + "/cluster-id", encoding: .utf8) == clusterID, "stable across restarts"
            )
            try directory.expectVerifies("fresh")
        }
    }

    @Test(
        "a topic with several partitions: each partition is a log of its own (offsets from 0), inside the topic's; kept across a restart; logd reads and verifies each",
        .enabled(if: Kcat.isAvailable))
    func severalPartitions() async throws {
        try await offPool {
            let directory = try TestDirectory()
            for bad in ["0", "257"] {
                let refused = try Logd.run(
                    directory.args("serve", "--listen", "127.0.0.1:0", "--default-partitions", bad))
                #expect(
                    !refused.succeeded && refused.errorOutput.contains("--default-partitions must be between 1 and 256"),
                    "\(refused)")
            }
            let (server, broker) = try LogdServe.start(directory, ["--auto-create-topics", "--default-partitions", "3"])
            defer { server.send(SIGKILL) }
            for partition in 0..<3 {
                for suffix in ["a", "b"] {  // a batch each
                    _ = try Kcat.run(
                        ["-b", broker, "-P", "-t", "multi", "-p", "\(partition)", "-X", "acks=all"],
                        input: "p\(partition)\(suffix)\n")
                }
            }
            let metadata = try Kcat.run(["-b", broker, "-L", "-t", "multi"])
            #expect(metadata.contains("topic \"multi\" with 3 partitions"), "\(metadata)")
            #expect(
                try Kcat.run(["-b", broker, "-C", "-t", "multi", "-p", "1", "-e", "-f", "%p %o %s\\n"]) == "1 0 p1a\n1 1 p1b\n")
            // A group consumes every partition; kcat commits what it consumed when it leaves.
            let grouped = try Kcat.run(
                ["-b", broker, "-G", "billing", "-X", "auto.offset.reset=earliest", "-c", "6", "-f", "%p %o\\n", "multi"])
            #expect(grouped.split(separator: "\n").count == 6, "\(grouped)")
            let all = try Kcat.run(["-b", broker, "-C", "-t", "multi", "-e", "-f", "%p %o %s\\n"])
            #expect(
                all.split(separator: "\n").sorted() == ["0 0 p0a", "0 1 p0b", "1 0 p1a", "1 1 p1b", "2 0 p2a", "2 1 p2b"],
                "\(all)")
            try LogdServe.stop(server)

            let (again, againBroker) = try LogdServe.start(directory)
            defer { again.send(SIGKILL) }
            #expect(try Kcat.run(["-b", againBroker, "-L", "-t", "multi"]).contains("with 3 partitions"))
            #expect(
                try Kcat.run(["-b", againBroker, "-C", "-t", "multi", "-p", "2", "-e", "-f", "%o %s\\n"]) == "0 p2a\n1 p2b\n")
            try LogdServe.stop(again)

            #expect(try Logd.run(directory.args("list")).lines == ["multi"], "one topic: its partitions 1 and 2 live inside it")
            #expect(try Logd.run(directory.args("read", "multi")).output == "p0a\np0b\n")
            let partitions = directory.log("multi") + "/partitions"
            #expect(try Logd.run(["read", "2", "--dir", partitions]).output == "p2a\np2b\n")
            // logd groups: a row per group and partition; --reset moves the group on every partition.
            func groupRows() throws -> [[String]] {
                try Logd.run(directory.args("groups", "multi")).lines.dropFirst().filter { !$0.isEmpty }.map {
                    $0.split(separator: " ").map(String.init)
                }
            }
            #expect(try groupRows() == [["billing", "0", "2", "0"], ["billing", "1", "2", "0"], ["billing", "2", "2", "0"]])
            let reset = try Logd.run(directory.args("groups", "multi", "--reset", "billing", "--to", "earliest"))
            #expect(reset.succeeded && reset.lines.filter { !$0.isEmpty }.count == 3, "\(reset)")
            #expect(try groupRows() == [["billing", "0", "0", "2"], ["billing", "1", "0", "2"], ["billing", "2", "0", "2"]])
            try directory.expectVerifies("multi")
            let verified = try Logd.run(directory.args("verify", "multi"))
            #expect(
                verified.lines.map { $0.components(separatedBy: ": ok").first ?? "" }
                    == ["multi", "multi partition 1", "multi partition 2"],
                "logd verify checks every partition of a topic: \(verified)")

            // Damage in partition 2 (its first batch, good data after it): logd verify names it.
            let store = try #require(
                try FileManager.default.contentsOfDirectory(atPath: partitions + "/2").first { $0.hasSuffix(".store") })
            let storePath = partitions + "/2/" + store
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: storePath)))
            let at = try #require(
                (0...(bytes.count - 3)).first { bytes[$0..<$0 + 3].elementsEqual(Array("p2a".utf8)) })
            bytes[at + 2] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: storePath))
            let damaged = try Logd.run(directory.args("verify", "multi"))
            #expect(!damaged.succeeded && damaged.errorOutput.contains("multi partition 2"), "\(damaged)")
            #expect(damaged.lines.contains { $0.hasPrefix("multi partition 1: ok") })
        }
    }

    @Test(
        "a kcat consumer group commits, resumes from its commit, and continues with logd read --group and back",
        .enabled(if: Kcat.isAvailable))
    func consumerGroupCommitsAndResumes() async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "orders"), input: Array("a\nb\nc\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            let group = ["-b", broker, "-G", "billing", "-X", "auto.offset.reset=earliest", "-f", "%o %s\\n"]
            // kcat commits what it consumed when it leaves the group.
            #expect(try Kcat.run(group + ["-c", "3", "orders"]) == "0 a\n1 b\n2 c\n")
            #expect(
                try Logd.run(directory.args("groups", "orders")).lines.last?.split(separator: " ").prefix(2) == ["billing", "3"])

            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders"], input: "d\ne\n")
            #expect(try Kcat.run(group + ["-c", "1", "orders"]) == "3 d\n", "resumes at the commit")

            // The same group continues with logd read --group (while the server runs), then with kcat again.
            let read = try Logd.run(directory.args("read", "orders", "--group", "billing"))
            #expect(read.succeeded, "\(read)")
            #expect(read.output == "e\n")
            _ = try Kcat.run(["-b", broker, "-P", "-t", "orders"], input: "f\n")
            #expect(try Kcat.run(group + ["-c", "1", "orders"]) == "5 f\n")
            let groups = try Logd.run(directory.args("groups", "orders"))
            #expect(groups.lines.last?.split(separator: " ").map(String.init) == ["billing", "6", "0"], "\(groups)")

            try LogdServe.stop(server)
            try directory.expectVerifies("orders")
        }
    }

    @Test(
        "garbage, an unknown API and an oversized frame close that connection only; a wrong CRC is CORRUPT_MESSAGE; nothing stored changes",
        .enabled(if: Kcat.isAvailable))
    func badInputClosesTheConnection() async throws {
        try await offPool {
            let directory = try TestDirectory()
            let appended = try Logd.run(directory.args("append", "orders"), input: Array("a\n".utf8))
            #expect(appended.succeeded, "\(appended)")
            let (server, broker) = try LogdServe.start(directory, ["--max-request-bytes", "4096"])
            defer { server.send(SIGKILL) }
            let port = try #require(broker.split(separator: ":").last.flatMap { UInt16($0) })
            let frames: [[UInt8]] = [
                [0, 0, 0, 10, 0, 57, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF],  // unknown API key 57
                [0, 0, 0x10, 0x01] + Array(repeating: 0, count: 16),  // over --max-request-bytes
                [0, 0, 0, 4, 0xDE, 0xAD, 0xBE, 0xEF],  // too short for a header
                [0, 0, 0, 12, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 99],  // Produce v8 that ends inside its body
            ]
            for frame in frames {
                #expect(try RawConnection.closesAfter(sending: frame, port: port), "\(frame)")
            }
            // A batch with a wrong CRC: CORRUPT_MESSAGE (2) for its partition, the connection stays, nothing stored.
            let damaged = try RawConnection.exchange(
                RawConnection.produceFrame(topic: "orders", value: Array("bad".utf8), damageCRC: true), port: port)
            #expect(RawConnection.produceErrorCode(damaged, topic: "orders") == 2)
            let good = try RawConnection.exchange(
                RawConnection.produceFrame(topic: "orders", value: Array("good".utf8), damageCRC: false), port: port)
            #expect(RawConnection.produceErrorCode(good, topic: "orders") == 0, "the same bytes with their CRC are stored")
            #expect(try Kcat.run(["-b", broker, "-C", "-t", "orders", "-e", "-f", "%s\\n"]) == "a\ngood\n")
            #expect(server.stderr.text.contains("kafka.connection_closed"))
            try LogdServe.stop(server)
            try directory.expectVerifies("orders")
        }
    }

    @Test(
        "a batch damaged on disk is KAFKA_STORAGE_ERROR (56) for its partition, never data; the connection and other topics go on",
        .enabled(if: Kcat.isAvailable))
    func damagedBatchIsAStorageError() async throws {
        try await offPool {
            let directory = try TestDirectory()
            for name in ["damaged", "unopenable", "intact"] {
                for lines in ["one\ntwo\nthree\n", "four\n"] {
                    let appended = try Logd.run(directory.args("append", name), input: Array(lines.utf8))
                    #expect(appended.succeeded, "\(appended)")
                }
            }
            // Flip a bit of a record: in the first batch (found when a fetch reads it), in the last (found by the open).
            func damage(_ name: String, lastBatch: Bool) throws {
                let store = try #require(
                    try FileManager.default.contentsOfDirectory(atPath: directory.log(name)).first { $0.hasSuffix(".store") })
                let path = directory.log(name) + "/" + store
                var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                let firstBatchSize = 12 + bytes[8..<12].reduce(0) { $0 << 8 | Int($1) }
                bytes[lastBatch ? bytes.count - 1 : firstBatchSize - 1] ^= 0x01
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            }
            try damage("damaged", lastBatch: false)
            try damage("unopenable", lastBatch: true)

            let (server, broker) = try LogdServe.start(directory)
            defer { server.send(SIGKILL) }
            let port = try #require(broker.split(separator: ":").last.flatMap { UInt16($0) })
            for name in ["damaged", "unopenable"] {
                let damaged = try RawConnection.exchange(RawConnection.fetchFrame(topic: name), port: port)
                #expect(RawConnection.fetchErrorCode(damaged, topic: name) == 56, "\(name)")
                #expect(damaged.count < 80, "\(name): no record is served, only the error")
            }
            let intact = try RawConnection.exchange(RawConnection.fetchFrame(topic: "intact"), port: port)
            #expect(RawConnection.fetchErrorCode(intact, topic: "intact") == 0)
            // Past the end: OFFSET_OUT_OF_RANGE with an empty record set (size 0, not -1, which librdkafka 2.0
            // cannot read: it looped on the fetch). kcat then resets to the end and exits there.
            let beyond = try RawConnection.exchange(RawConnection.fetchFrame(topic: "intact", offset: 99), port: port)
            #expect(RawConnection.fetchErrorCode(beyond, topic: "intact") == 1)
            #expect(Array(beyond.suffix(4)) == [0, 0, 0, 0], "an empty record set closes the response")
            #expect(try Kcat.run(["-b", broker, "-C", "-t", "intact", "-p", "0", "-o", "99", "-e", "-f", "%s\\n"]) == "")
            #expect(try Kcat.run(["-b", broker, "-C", "-t", "intact", "-e", "-f", "%s\\n"]) == "one\ntwo\nthree\nfour\n")
            #expect(server.stderr.text.contains("kafka.fetch_failed"))
            try LogdServe.stop(server)
            for name in ["damaged", "unopenable"] {
                #expect(try Logd.run(directory.args("verify", name)).exitCode != 0, "verify reports the damage of \(name)")
            }
            try directory.expectVerifies("intact")
        }
    }
}

/// A bare TCP connection, for bytes no client library would send.
enum RawConnection {
    static func connect(port: UInt16) throws -> Int32 {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw ChildProcessError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(socket)
            throw ChildProcessError(description: "connect: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return socket
    }

    /// Sends `bytes` and reports whether the server then closes the connection (within 10 s).
    static func closesAfter(sending bytes: [UInt8], port: UInt16) throws -> Bool {
        let socket = try connect(port: port)
        defer { close(socket) }
        _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if received == 0 { return true }  // orderly close
            if received < 0 { return errno == ECONNRESET }
        }
    }

    /// Sends a request frame and returns the response frame's bytes after its size.
    static func exchange(_ bytes: [UInt8], port: UInt16) throws -> [UInt8] {
        let socket = try connect(port: port)
        defer { close(socket) }
        _ = bytes.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        func receive(_ count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                let received = out.withUnsafeMutableBytes { recv(socket, $0.baseAddress! + filled, count - filled, 0) }
                guard received > 0 else { throw ChildProcessError(description: "the server closed the connection") }
                filled += received
            }
            return out
        }
        let size = try receive(4).reduce(0) { $0 << 8 | Int($1) }
        return try receive(size)
    }

    /// A Produce v3 request frame (acks 1) of one batch v2 holding one record with `value`;
    /// `damageCRC` flips a bit of the batch's CRC.
    static func produceFrame(topic: String, value: [UInt8], damageCRC: Bool) -> [UInt8] {
        func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        func varint(_ value: Int) -> [UInt8] {
            var zigzag = UInt64(bitPattern: Int64((value << 1) ^ (value >> 63)))
            var out: [UInt8] = []
            while zigzag >= 0x80 {
                out.append(UInt8(zigzag & 0x7F) | 0x80)
                zigzag >>= 7
            }
            return out + [UInt8(zigzag)]
        }
        let body: [UInt8] = [0] + varint(0) + varint(0) + varint(-1) + varint(value.count) + value + varint(0)
        let record = varint(body.count) + body
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var afterCRC = bigEndian(Int16(0)) + bigEndian(Int32(0)) + bigEndian(now) + bigEndian(now)
        afterCRC += bigEndian(Int64(-1)) + bigEndian(Int16(-1)) + bigEndian(Int32(-1)) + bigEndian(Int32(1)) + record
        let crc = CRC32C.checksum(afterCRC) ^ (damageCRC ? 1 : 0)
        let batch =
            bigEndian(Int64(0)) + bigEndian(Int32(9 + afterCRC.count)) + bigEndian(Int32(-1)) + [2] + bigEndian(crc) + afterCRC
        var request = bigEndian(Int16(0)) + bigEndian(Int16(3)) + bigEndian(Int32(7)) + bigEndian(Int16(3)) + Array("raw".utf8)
        request += bigEndian(Int16(-1)) + bigEndian(Int16(1)) + bigEndian(Int32(30000))
        request += bigEndian(Int32(1)) + bigEndian(Int16(Int16(topic.utf8.count))) + Array(topic.utf8)
        request += bigEndian(Int32(1)) + bigEndian(Int32(0)) + bigEndian(Int32(Int32(batch.count))) + batch
        return bigEndian(Int32(Int32(request.count))) + request
    }

    /// A Fetch v4 request frame for partition 0 of `topic` from `offset` (no wait, 1 MiB at most).
    static func fetchFrame(topic: String, offset: Int64 = 0) -> [UInt8] {
        func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
        var request = bigEndian(Int16(1)) + bigEndian(Int16(4)) + bigEndian(Int32(8)) + bigEndian(Int16(3)) + Array("raw".utf8)
        request += bigEndian(Int32(-1)) + bigEndian(Int32(0)) + bigEndian(Int32(1)) + bigEndian(Int32(1 << 20)) + [0]
        request += bigEndian(Int32(1)) + bigEndian(Int16(Int16(topic.utf8.count))) + Array(topic.utf8)
        request += bigEndian(Int32(1)) + bigEndian(Int32(0)) + bigEndian(offset) + bigEndian(Int32(1 << 20))
        return bigEndian(Int32(Int32(request.count))) + request
    }

    /// The error code of the first partition of a Fetch v4 response (after its correlation id and throttle time).
    static func fetchErrorCode(_ response: [UInt8], topic: String) -> Int16 {
        let at = 4 + 4 + 4 + 2 + topic.utf8.count + 4 + 4
        return Int16(bitPattern: UInt16(response[at]) << 8 | UInt16(response[at + 1]))
    }

    /// The error code of the first partition of a Produce v3 response (after its correlation id).
    static func produceErrorCode(_ response: [UInt8], topic: String) -> Int16 {
        let at = 4 + 4 + 2 + topic.utf8.count + 4 + 4
        return Int16(bitPattern: UInt16(response[at]) << 8 | UInt16(response[at + 1]))
    }
}
