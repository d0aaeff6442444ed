import Foundation
import Testing

@testable import PostgresCDC

@Suite("PostgresConnectionConfiguration")
struct PostgresConnectionConfigurationTests {
    @Test("a full DSN parses into host, port, user, password, database and sslmode")
    func fullDSN() throws {
        let configuration = try PostgresConnectionConfiguration(
            dsn: "postgres://alice:s%40cret@db.example:6543/shop?sslmode=require&application_name=ingest")
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.user == "alice")
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == "shop")
        #expect(configuration.tlsMode == .require)
        #expect(configuration.replication == .database)
        #expect(configuration.runtimeParameters == ["application_name": "ingest"])
    }

    @Test("defaults: port 5432, database = user, sslmode prefer, no password")
    func defaults() throws {
        let configuration = try PostgresConnectionConfiguration(dsn: "postgresql://bob@localhost")
        #expect(configuration.port == 5432)
        #expect(configuration.database == "bob")
        #expect(configuration.tlsMode == .prefer)
        #expect(configuration.password == nil)
    }

    @Test(
        "bad DSNs are invalidConfiguration errors that never show the password",
        arguments: [
            "mysql://u:topsecret@h/db", "postgres://:topsecret@h/db", "postgres://u:topsecret@h/db?sslmode=verify-full",
            "postgres://u:topsecret@/db",
        ])
    func invalidDSN(dsn: String) {
        let error = #expect(throws: PostgresReplicationError.self) { try PostgresConnectionConfiguration(dsn: dsn) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error.map { "\($0)" }?.contains("topsecret") == false)
    }

    @Test("description masks the password")
    func descriptionMasksPassword() throws {
        let configuration = try PostgresConnectionConfiguration(dsn: "postgres://alice:topsecret@h:1/d?sslmode=disable")
        #expect(configuration.description == "postgres://alice:***@h:1/d?sslmode=disable")
        #expect(!"\(configuration)".contains("topsecret"))
    }

    @Test("PGPASSWORD fills a missing password, but not one given in the DSN")
    func passwordFromEnvironment() throws {
        let configuration = try PostgresConnectionConfiguration(dsn: "postgres://alice@h/d")
        #expect(configuration.resolvingPassword(environment: ["PGPASSWORD": "fromenv"]).password == "fromenv")
        let given = try PostgresConnectionConfiguration(dsn: "postgres://alice:given@h/d")
        #expect(given.resolvingPassword(environment: ["PGPASSWORD": "fromenv"]).password == "given")
    }

    @Test("~/.pgpass: first matching line wins, * matches anything, \\: escapes")
    func passwordFromPassfile() throws {
        let passfile = """
            # comment
            otherhost:5432:*:alice:wrong
            h:5432:other:alice:wrong-db
            h:*:d:alice:pa\\:ss
            *:*:*:*:fallback
            """
        let path = NSTemporaryDirectory() + "pgpass-\(UUID().uuidString)"
        try passfile.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try PostgresConnectionConfiguration(dsn: "postgres://alice@h:5432/d")
        #expect(configuration.resolvingPassword(environment: [:], passfilePath: path).password == "pa:ss")
        let other = try PostgresConnectionConfiguration(dsn: "postgres://carol@x:1/y")
        #expect(other.resolvingPassword(environment: [:], passfilePath: path).password == "fallback")
        #expect(
            configuration.resolvingPassword(environment: ["PGPASSFILE": path + "-missing"]).password == nil)
    }
}

@Suite("SCRAM-SHA-256 and md5 password exchange")
struct PasswordAuthenticationTests {
    @Test("RFC 7677 test vector: client proof and server signature")
    func rfc7677Vector() throws {
        var client = SCRAMSHA256Client(password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", user: "user")
        #expect(String(decoding: client.clientFirstMessage(), as: UTF8.self) == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.clientFinalMessage(
            serverFirst: Array(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".utf8))
        #expect(
            String(decoding: final, as: UTF8.self)
                == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try client.verifyServerFinal(Array("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        #expect(throws: PostgresReplicationError.self) {
            try client.verifyServerFinal(Array("v=AAAArriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".utf8))
        }
    }

    @Test("a server nonce that does not extend the client's is refused")
    func foreignNonce() {
        var client = SCRAMSHA256Client(password: "p", clientNonce: "abc")
        _ = client.clientFirstMessage()
        #expect(throws: PostgresReplicationError.self) {
            try client.clientFinalMessage(serverFirst: Array("r=xyz123,s=AAAA,i=4096".utf8))
        }
    }

    @Test("md5 response matches Postgres' md5(md5(password + user) + salt)")
    func md5Response() {
        // Vector computed independently (Python hashlib).
        let response = MD5Password.response(user: "alice", password: "secret", salt: [1, 2, 3, 4])
        #expect(response == "md598a0412b9c31436fc53776e863350083")
    }
}
