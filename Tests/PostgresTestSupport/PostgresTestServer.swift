import Foundation
import PostgresCDC

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway Postgres 15 for the tests: `initdb` into a temp dir, logical
/// WAL, a free port on 127.0.0.1, roles for every authentication method,
/// `pg_ctl start -w`; stopped (`-m immediate`) and removed when the test
/// process exits. One server per test process (`shared`), so the suite stays fast.
public final class PostgresTestServer: Sendable {
    public static let binDirectory = ProcessInfo.processInfo.environment["LOGD_PG_BIN"] ?? "/usr/lib/postgresql/15/bin"

    /// Postgres 15 binaries are installed (scripts/test.sh installs them).
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: binDirectory + "/initdb")
    }

    /// Roles and passwords the server is set up with.
    public enum Role {
        /// Superuser with REPLICATION, trust authentication.
        public static let trust = "logd"
        public static let scram = "scram_user"
        public static let scramPassword = "scram-secret"
        public static let md5 = "md5_user"
        public static let md5Password = "md5-secret"
        public static let cleartext = "cleartext_user"
        public static let cleartextPassword = "cleartext-secret"
        /// SCRAM, LOGIN but no REPLICATION.
        public static let noReplication = "plain_user"
        public static let noReplicationPassword = "plain-secret"
    }

    public let directory: String
    public let port: Int
    public let database = "logd_test"

    /// The suite's server, started on first use; nil (with the reason) when it cannot start.
    public static let shared: Result<PostgresTestServer, TestServerError> = {
        do {
            let server = try PostgresTestServer(walLevel: "logical")
            sharedDirectory = server.directory
            atexit { PostgresTestServer.stopShared() }
            return .success(server)
        } catch let error as TestServerError {
            return .failure(error)
        } catch {
            return .failure(TestServerError(message: "\(error)"))
        }
    }()

    nonisolated(unsafe) private static var sharedDirectory: String?

    private static func stopShared() {
        guard let directory = sharedDirectory else { return }
        stop(directory: directory)
    }

    /// The shared server, or a test failure naming why it could not start.
    public static func require() throws -> PostgresTestServer {
        switch shared {
        case .success(let server): return server
        case .failure(let error): throw error
        }
    }

    public struct TestServerError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Starts a new server; `stop()` it yourself unless it is `shared`.
    public init(walLevel: String, tls: Bool = true) throws {
        guard Self.isAvailable else {
            throw TestServerError(
                message: "Postgres 15 not found in \(Self.binDirectory): apt-get install postgresql-15 (scripts/test.sh does)")
        }
        var attempt = 1
        while true {
            let template = NSTemporaryDirectory() + "logd-pg-XXXXXX"
            var templateBytes = Array(template.utf8CString)
            guard let made = mkdtemp(&templateBytes) else { throw TestServerError(message: "mkdtemp failed") }
            let directory = String(cString: made)
            let port = try Self.freePort()
            do {
                try Self.setUp(directory: directory, port: port, database: database, walLevel: walLevel, tls: tls)
                self.directory = directory
                self.port = port
                return
            } catch {
                let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
                Self.stop(directory: directory)
                // Another process (a client's ephemeral port, a server starting beside this one) may take the
                // port between freePort() and the server's bind: then another port, twice at most.
                if attempt < 3, log.contains("could not bind") || log.contains("already in use") {
                    attempt += 1
                    continue
                }
                let tail = log.split(separator: "\n").suffix(8).joined(separator: "\n")
                throw TestServerError(message: "\(error)" + (tail.isEmpty ? "" : "; server.log ends with:\n\(tail)"))
            }
        }
    }

    private static func setUp(directory: String, port: Int, database: String, walLevel: String, tls: Bool) throws {
        let dataDirectory = directory + "/data"
        let isRoot = getuid() == 0
        if isRoot {
            _ = try Self.run("/bin/chown", ["postgres:postgres", directory])
            _ = try Self.run("/bin/chmod", ["700", directory])
        }
        try Self.runPostgres(
            "initdb", ["-D", dataDirectory, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)'
            wal_level = \(walLevel)
            max_replication_slots = 64
            max_wal_senders = 64
            max_connections = 200
            authentication_timeout = '10min'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            shared_buffers = 32MB
            ssl = \(tls ? "on" : "off")

            """
        let hba = """
            local all all trust
            host all \(Role.trust) 127.0.0.1/32 trust
            host all postgres 127.0.0.1/32 trust
            host all \(Role.md5) 127.0.0.1/32 md5
            host all \(Role.cleartext) 127.0.0.1/32 password
            host all all 127.0.0.1/32 scram-sha-256

            """
        try Self.append(settings, to: dataDirectory + "/postgresql.conf")
        try hba.write(toFile: dataDirectory + "/pg_hba.conf", atomically: true, encoding: .utf8)
        if tls {
            // A self-signed certificate: sslmode=require encrypts without verifying (as libpq).
            try Self.run(
                "/usr/bin/openssl",
                [
                    "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=localhost", "-newkey", "rsa:2048",
                    "-keyout", dataDirectory + "/server.key", "-out", dataDirectory + "/server.crt",
                ])
            _ = try Self.run("/bin/chmod", ["600", dataDirectory + "/server.key"])
        }
        if isRoot { _ = try Self.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        try Self.runPostgres("pg_ctl", ["-D", dataDirectory, "-l", directory + "/server.log", "-w", "-t", "60", "start"])
        // One -c per statement: psql runs a multi-statement -c in one transaction,
        // where CREATE DATABASE is refused.
        let setup = [
            "CREATE ROLE \(Role.trust) LOGIN SUPERUSER REPLICATION",
            "CREATE DATABASE \(database) OWNER \(Role.trust)",
            "CREATE ROLE \(Role.scram) LOGIN REPLICATION PASSWORD '\(Role.scramPassword)'",
            "CREATE ROLE \(Role.cleartext) LOGIN REPLICATION PASSWORD '\(Role.cleartextPassword)'",
            "CREATE ROLE \(Role.noReplication) LOGIN PASSWORD '\(Role.noReplicationPassword)'",
            "SET password_encryption = 'md5'; CREATE ROLE \(Role.md5) LOGIN REPLICATION PASSWORD '\(Role.md5Password)'",
        ]
        try Self.runPostgres(
            "psql",
            ["-h", directory, "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
                + setup.flatMap { ["-c", $0] })
    }

    public func stop() {
        Self.stop(directory: directory)
    }

    /// Restarts the server (`pg_ctl restart -m fast`): every connection drops.
    public func restart() throws {
        try Self.runPostgres(
            "pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log", "-m", "fast", "-w", "-t", "60", "restart"])
    }

    /// A `postgres://` URL for `database` (default: the test database).
    public func dsn(database: String) -> String {
        "postgres://\(Role.trust)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    private static func stop(directory: String) {
        _ = try? runPostgres("pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A `postgres://` URL for `logd ingest postgres --dsn` (trust superuser, no TLS).
    public var dsn: String { dsn(database: database) }

    /// A configuration for `user` (the trust superuser by default).
    public func configuration(
        user: String = Role.trust, password: String? = nil,
        replication: PostgresConnectionConfiguration.ReplicationMode = .database,
        runtimeParameters: [String: String] = [:], tlsMode: PostgresConnectionConfiguration.TLSMode = .disable
    ) -> PostgresConnectionConfiguration {
        PostgresConnectionConfiguration(
            host: "127.0.0.1", port: port, user: user, password: password, database: database, tlsMode: tlsMode,
            replication: replication, runtimeParameters: runtimeParameters)
    }

    /// Runs SQL on a normal (non-replication) session as the superuser.
    @discardableResult
    public func sql(_ statements: String, database: String? = nil) async throws -> [[String?]] {
        var configuration = configuration(replication: .none)
        if let database { configuration.database = database }
        return try await ReplicationConnection.withConnection(configuration: configuration) { connection in
            try await connection.simpleQuery(statements)
        }
    }

    // MARK: - Processes

    @discardableResult
    public static func runPostgres(_ tool: String, _ arguments: [String]) throws -> String {
        let path = binDirectory + "/" + tool
        if getuid() == 0 {
            return try run("/usr/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        }
        return try run(path, arguments)
    }

    /// Runs a tool to completion with posix_spawn + waitpid. Not Foundation's
    /// Process: it learns of the exit through a descriptor the child inherits,
    /// and the daemonized postmaster keeps that open forever; so would it a pipe.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let outputPath = NSTemporaryDirectory() + "logd-pg-output-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestServerError(message: "cannot run \(executable): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestServerError(message: "waitpid failed: errno \(errno)") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Exited normally (low 7 bits 0) with code 0 (next 8 bits).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw TestServerError(
                message: "\(executable) \(arguments.prefix(3).joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    private static func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// A port nobody listens on now: bind port 0 and read what the kernel chose.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestServerError(message: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(descriptor, generic, length) == 0 && getsockname(descriptor, generic, &length) == 0
            }
        }
        guard bound else { throw TestServerError(message: "bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
