import NIOCore
import NIOSSL

extension ReplicationConnection {
    /// SSLRequest (when asked for), StartupMessage, authentication, then
    /// everything up to the first ReadyForQuery.
    nonisolated(nonsending) func startup() async throws(PostgresReplicationError) {
        if configuration.tlsMode != .disable {
            try await negotiateTLS()
        }
        var parameters: [(String, String)] = [
            ("user", configuration.user), ("database", configuration.database), ("client_encoding", "UTF8"),
            ("application_name", configuration.runtimeParameters["application_name"] ?? "logd"),
        ]
        if configuration.replication == .database {
            parameters.append(("replication", "database"))
        }
        for (name, value) in configuration.runtimeParameters.sorted(by: { $0.key < $1.key })
        where name != "application_name" {
            parameters.append((name, value))
        }
        try await send(.startup(parameters: parameters))
        try await authenticate()
        var replies = CommandReplies(context: "startup", errorHandling: .throwAtOnce)
        while try await nextReply(&replies) != nil {}  // BackendKeyData
        logger.debug(
            "postgres.connected",
            metadata: [
                "postgres.connection": "\(configuration)",
                "postgres.server_version": "\(self.parameters["server_version"] ?? "?")",
            ])
    }

    /// SSLRequest: 'S' means go on in TLS, 'N' means the server has no TLS.
    private nonisolated(nonsending) func negotiateTLS() async throws(PostgresReplicationError) {
        try await send(.sslRequest)
        var answer = try await receive()
        guard answer.type == BackendMessage.sslResponseType, let byte = answer.body.readInteger(as: UInt8.self) else {
            throw PostgresReplicationError(.protocolViolation, "unexpected answer to SSLRequest")
        }
        if byte == SSLResponse.unwilling.rawValue {
            if configuration.tlsMode == .require {
                throw PostgresReplicationError(
                    .tlsUnavailable, "sslmode=require but the server does not support TLS (ssl = off)")
            }
            return
        }
        guard byte == SSLResponse.willing.rawValue else {
            throw PostgresReplicationError(.protocolViolation, "unexpected answer to SSLRequest: \(byte)")
        }
        // As libpq's sslmode=require: encrypt, without verifying the certificate.
        let host = configuration.host
        let channel = self.channel
        do {
            try await channel.eventLoop.submit {
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                let context = try NIOSSLContext(configuration: tls)
                let isAddress = host.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
                let handler = try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
            }.get()
        } catch {
            throw PostgresReplicationError(.tlsUnavailable, "cannot start TLS", underlying: error)
        }
    }

    private nonisolated(nonsending) func authenticate() async throws(PostgresReplicationError) {
        var scram: SCRAMSHA256Client?
        while true {
            var message = try await receive()
            if message.id == .errorResponse {
                throw PostgresReplicationError(server: message.body.readErrorFields(), context: "authentication")
            }
            guard message.id == .authentication, let method = message.body.readInteger(as: Int32.self) else {
                throw PostgresReplicationError(
                    .protocolViolation, "expected an authentication request, got '\(Character(Unicode.Scalar(message.type)))'")
            }
            switch method {
            case 0:
                return
            case 3:
                try await send(.password(try requirePassword()))
            case 5:
                guard let salt = message.body.readBytes(length: 4) else {
                    throw PostgresReplicationError(.protocolViolation, "md5 request without salt")
                }
                try await send(
                    .password(MD5Password.response(user: configuration.user, password: try requirePassword(), salt: salt)))
            case 10:
                var mechanisms: [String] = []
                while let name = message.body.readNullTerminatedString(), !name.isEmpty { mechanisms.append(name) }
                guard mechanisms.contains("SCRAM-SHA-256") else {
                    throw PostgresReplicationError(
                        .unsupportedAuthentication, "server offers SASL mechanisms \(mechanisms), not SCRAM-SHA-256")
                }
                var client = SCRAMSHA256Client(password: try requirePassword())
                try await send(.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: client.clientFirstMessage()))
                scram = client
            case 11:
                guard var client = scram else {
                    throw PostgresReplicationError(.protocolViolation, "SASLContinue before SASL")
                }
                let serverFirst = message.body.readBytes(length: message.body.readableBytes) ?? []
                try await send(.saslResponse(try client.clientFinalMessage(serverFirst: serverFirst)))
                scram = client
            case 12:
                guard let client = scram else {
                    throw PostgresReplicationError(.protocolViolation, "SASLFinal before SASL")
                }
                try client.verifyServerFinal(message.body.readBytes(length: message.body.readableBytes) ?? [])
            default:
                throw PostgresReplicationError(
                    .unsupportedAuthentication,
                    "authentication method \(method) is not supported (trust, password, md5, scram-sha-256 are)")
            }
        }
    }

    private func requirePassword() throws(PostgresReplicationError) -> String {
        guard let password = configuration.password else {
            throw PostgresReplicationError(
                .authenticationFailed,
                "the server asks for a password for user \(configuration.user) but none was given (DSN, PGPASSWORD, ~/.pgpass)")
        }
        return password
    }
}
