import Foundation

/// Where and how to connect to Postgres, parsed from a libpq-style URL.
///
/// `postgres://user[:password]@host[:port]/database?sslmode=disable|prefer|require`
///
/// The password may also come from `PGPASSWORD` or `~/.pgpass` (see
/// `resolvingPassword(environment:passfilePath:)`). It is never printed:
/// `description` masks it.
public struct PostgresConnectionConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// libpq's `sslmode`, limited to the modes that do not verify certificates.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain TCP otherwise.
        case prefer
        /// TLS or fail. As in libpq, the server certificate is not verified.
        case require
    }

    /// Whether the session is a walsender (`replication=database`) or a normal one.
    public enum ReplicationMode: String, Sendable, Hashable {
        /// `replication=database`: simple query plus the replication commands.
        case database
        /// A normal session (for SQL such as `COPY` or test setup).
        case none
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    public var replication: ReplicationMode
    /// Extra startup parameters (GUCs such as `application_name` or `wal_sender_timeout`).
    public var runtimeParameters: [String: String]

    public init(
        host: String, port: Int = 5432, user: String, password: String? = nil, database: String,
        tlsMode: TLSMode = .prefer, replication: ReplicationMode = .database, runtimeParameters: [String: String] = [:]
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.replication = replication
        self.runtimeParameters = runtimeParameters
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    ///
    /// - Parameter dsn: the URL; user name and password may be percent-encoded.
    ///   Query parameters other than `sslmode` become runtime parameters.
    /// - Throws: `PostgresReplicationError` with code `.invalidConfiguration`
    ///   naming the part that is wrong (never the password).
    public init(dsn: String) throws(PostgresReplicationError) {
        guard let components = URLComponents(string: dsn),
            let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresReplicationError(.invalidConfiguration, "not a postgres:// URL: \(Self.maskPassword(in: dsn))")
        }
        guard let host = components.host, !host.isEmpty else {
            throw PostgresReplicationError(.invalidConfiguration, "no host in \(Self.maskPassword(in: dsn))")
        }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw PostgresReplicationError(.invalidConfiguration, "no user in \(Self.maskPassword(in: dsn))")
        }
        var database = components.path
        if database.hasPrefix("/") { database.removeFirst() }
        database = database.removingPercentEncoding ?? database
        var tlsMode = TLSMode.prefer
        var parameters: [String: String] = [:]
        for item in components.queryItems ?? [] {
            if item.name == "sslmode" {
                guard let mode = TLSMode(rawValue: item.value ?? "") else {
                    throw PostgresReplicationError(
                        .invalidConfiguration,
                        "sslmode '\(item.value ?? "")' is not supported (disable, prefer, require)")
                }
                tlsMode = mode
            } else if let value = item.value {
                parameters[item.name] = value
            }
        }
        self.init(
            host: host, port: components.port ?? 5432, user: user,
            password: components.percentEncodedPassword?.removingPercentEncoding,
            database: database.isEmpty ? user : database, tlsMode: tlsMode, runtimeParameters: parameters)
    }

    /// The configuration with the password filled in, when it has none, from
    /// `PGPASSWORD`, else from the first matching line of the password file
    /// (`PGPASSFILE`, default `~/.pgpass`; `host:port:database:user:password`,
    /// `*` matches anything, `\:` and `\\` escape).
    public func resolvingPassword(
        environment: [String: String] = ProcessInfo.processInfo.environment, passfilePath: String? = nil
    ) -> PostgresConnectionConfiguration {
        guard password == nil else { return self }
        var resolved = self
        if let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            resolved.password = fromEnvironment
            return resolved
        }
        let path =
            passfilePath ?? environment["PGPASSFILE"]
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.pgpass"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return self }
        resolved.password = Self.passwordFromPassfile(
            text, host: host, port: port, database: database, user: user)
        return resolved
    }

    /// The password of the first `.pgpass` line matching the connection, or nil.
    static func passwordFromPassfile(_ text: String, host: String, port: Int, database: String, user: String)
        -> String?
    {
        let wanted = [host, String(port), database, user]
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("#") { continue }
            let fields = splitPassfileLine(Substring(line))
            guard fields.count == 5 else { continue }
            let matches = zip(fields.prefix(4), wanted).allSatisfy { field, value in
                field == "*" || field == value
                    || (field == "localhost" && (value == "127.0.0.1" || value == "::1"))
            }
            if matches { return fields[4] }
        }
        return nil
    }

    private static func splitPassfileLine(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" && fields.count < 4 {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }

    /// `postgres://user:***@host:port/db?sslmode=...`: never the password.
    public var description: String {
        let secret = password == nil ? "" : ":***"
        return "postgres://\(user)\(secret)@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue)"
    }

    private static func maskPassword(in dsn: String) -> String {
        guard var components = URLComponents(string: dsn), components.password != nil else { return dsn }
        components.password = "***"
        return components.string ?? "(unparseable URL)"
    }
}
