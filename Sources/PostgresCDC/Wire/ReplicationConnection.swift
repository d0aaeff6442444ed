import Foundation
import Logging
import NIOCore
import NIOPosix

/// A Postgres connection speaking the simple-query and streaming replication
/// protocols over SwiftNIO.
///
/// Use it inside `withConnection(configuration:logger:_:)`, which connects,
/// authenticates (trust, cleartext, md5, SCRAM-SHA-256), runs the body and
/// always closes the socket. One task drives the connection (queries, then the
/// replication stream); `statusSender` may be used from any task meanwhile.
///
/// Backpressure: messages are read from the socket only while fewer than
/// `maximumBufferedMessages` wait for the consumer; a slow consumer stops
/// the reads (NIO read demand), so memory stays bounded.
public final class ReplicationConnection {
    /// What `IDENTIFY_SYSTEM` returns.
    public struct SystemIdentity: Sendable, Hashable {
        public var systemID: String
        public var timeline: Int
        /// The current WAL flush position.
        public var xLogPosition: LSN
        /// The database of a `replication=database` session.
        public var database: String?
    }

    /// What `CREATE_REPLICATION_SLOT` returns.
    public struct CreatedSlot: Sendable, Hashable {
        public var name: String
        /// Streaming from here misses nothing committed after the snapshot.
        public var consistentPoint: LSN
        /// Valid only until this connection runs its next command; use it from
        /// another connection with `SET TRANSACTION SNAPSHOT '...'`.
        public var snapshotName: String?
        public var outputPlugin: String
    }

    /// Messages buffered between socket and consumer before reads stop.
    public static let maximumBufferedMessages = 256

    public let configuration: PostgresConnectionConfiguration
    /// ParameterStatus values the server reported (server_version, ...).
    public private(set) var parameters: [String: String] = [:]

    /// The server's major version (`server_version` 15.8 → 15), when it said.
    public var serverMajorVersion: Int? {
        parameters["server_version"].flatMap { Int($0.prefix { $0.isNumber }) }
    }
    /// Sends standby status updates; `Sendable`, for a timer task.
    public let statusSender: StandbyStatusSender

    let logger: Logger
    let channel: any Channel
    private var inbound: NIOAsyncChannelInboundStream<BackendMessage>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<FrontendMessage>
    private(set) var isStreaming = false

    private init(
        configuration: PostgresConnectionConfiguration, logger: Logger, channel: any Channel,
        inbound: NIOAsyncChannelInboundStream<BackendMessage>, outbound: NIOAsyncChannelOutboundWriter<FrontendMessage>
    ) {
        self.configuration = configuration
        self.logger = logger
        self.channel = channel
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.statusSender = StandbyStatusSender(outbound: outbound)
    }

    /// Connects, authenticates, runs `body`, then closes the connection
    /// (Terminate, then close), also when `body` throws.
    ///
    /// - Parameters:
    ///   - configuration: where to connect; the password should already be
    ///     resolved (`resolvingPassword()`).
    ///   - logger: connection events at debug level, server notices at info.
    ///   - body: works with the connection; it must not escape it.
    /// - Returns: what `body` returns.
    /// - Throws: `PostgresReplicationError` (`.connectionFailed`,
    ///   `.authenticationFailed`, `.replicationPrivilegeMissing`, `.tlsUnavailable`, ...),
    ///   or what `body` throws.
    public static func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        configuration: PostgresConnectionConfiguration,
        logger: Logger = Logger(label: "logd.postgres"),
        _ body: (ReplicationConnection) async throws -> sending Result
    ) async throws -> sending Result {
        let asyncChannel = try await connect(configuration: configuration)
        return try await asyncChannel.executeThenClose { inbound, outbound in
            let connection = ReplicationConnection(
                configuration: configuration, logger: logger, channel: asyncChannel.channel, inbound: inbound,
                outbound: outbound)
            try await connection.startup()
            let result = try await body(connection)
            try? await outbound.write(.terminate)
            return result
        }
    }

    private static func connect(configuration: PostgresConnectionConfiguration) async throws(PostgresReplicationError)
        -> NIOAsyncChannel<BackendMessage, FrontendMessage>
    {
        let expectsSSLResponse = configuration.tlsMode != .disable
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(BackendMessageDecoder(expectsSSLResponse: expectsSSLResponse)))
                        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrontendMessageEncoder()))
                        return try NIOAsyncChannel<BackendMessage, FrontendMessage>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(
                                backPressureStrategy: .init(
                                    lowWatermark: maximumBufferedMessages / 4, highWatermark: maximumBufferedMessages)))
                    }
                }
        } catch {
            throw PostgresReplicationError(
                .connectionFailed, "cannot connect to \(configuration.host):\(configuration.port)", underlying: error)
        }
    }

    // MARK: - Message I/O

    nonisolated(nonsending) func send(_ message: FrontendMessage) async throws(PostgresReplicationError) {
        do {
            try await outbound.write(message)
        } catch {
            throw PostgresReplicationError(.connectionClosed, "cannot send to the server", underlying: error)
        }
    }

    /// The next backend message; notices are logged and skipped.
    nonisolated(nonsending) func receive() async throws(PostgresReplicationError) -> BackendMessage {
        while true {
            let next: BackendMessage?
            do {
                next = try await inbound.next(isolation: #isolation)
            } catch let error as PostgresReplicationError {
                throw error
            } catch {
                throw PostgresReplicationError(.connectionClosed, "connection failed", underlying: error)
            }
            guard var message = next else {
                throw PostgresReplicationError(.connectionClosed, "the server closed the connection")
            }
            switch message.id {
            case .noticeResponse:
                let fields = message.body.readErrorFields()
                logger.info("postgres.notice", metadata: ["postgres.message": "\(fields[.message] ?? "")"])
            case .parameterStatus:
                if let name = message.body.readNullTerminatedString(),
                    let value = message.body.readNullTerminatedString()
                {
                    parameters[name] = value
                }
            case .notificationResponse:
                continue  // Not used here.
            default:
                return message
            }
        }
    }

    // MARK: - Simple query

    /// Runs SQL (or a replication command) with the simple-query protocol.
    ///
    /// - Parameter sql: one or more statements.
    /// - Returns: the data rows of all statements, each column as text or nil for NULL.
    /// - Throws: `PostgresReplicationError` with the server's SQLSTATE,
    ///   message, detail and hint when the server answers with an ErrorResponse.
    public nonisolated(nonsending) func simpleQuery(_ sql: String) async throws(PostgresReplicationError) -> [[String?]] {
        guard !isStreaming else {
            throw PostgresReplicationError(.invalidState, "the connection is streaming; end replication first")
        }
        try await send(.query(sql))
        var rows: [[String?]] = []
        var replies = CommandReplies(context: Self.commandName(sql))
        while var message = try await nextReply(&replies) {
            switch message.id {
            case .dataRow:
                rows.append(try Self.readDataRow(&message.body))
            case .copyOutResponse, .copyBothResponse:
                // COPY ... TO STDOUT or START_REPLICATION through simpleQuery: not supported; leave copy mode.
                try await send(.copyDone)
                replies.failure = PostgresReplicationError(
                    .invalidState, "simpleQuery cannot run COPY TO or START_REPLICATION: \(Self.commandName(sql))")
            case .copyInResponse:
                try await send(.copyFail("COPY FROM STDIN is not supported by simpleQuery"))
            default:
                continue  // RowDescription, CommandComplete, EmptyQueryResponse, CopyData while leaving copy.
            }
        }
        return rows
    }

    static func readDataRow(_ body: inout ByteBuffer) throws(PostgresReplicationError) -> [String?] {
        guard let count = body.readInteger(as: Int16.self), count >= 0 else {
            throw PostgresReplicationError(.protocolViolation, "DataRow without a column count")
        }
        var row: [String?] = []
        row.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = body.readInteger(as: Int32.self) else {
                throw PostgresReplicationError(.protocolViolation, "DataRow truncated")
            }
            if length < 0 {
                row.append(nil)
            } else {
                guard let text = body.readString(length: Int(length)) else {
                    throw PostgresReplicationError(.protocolViolation, "DataRow truncated")
                }
                row.append(text)
            }
        }
        return row
    }

    /// The first word(s) of a command, for error messages (never the whole SQL).
    static func commandName(_ sql: String) -> String {
        sql.split(whereSeparator: \.isWhitespace).prefix(2).joined(separator: " ")
    }

    // MARK: - Replication commands

    /// `IDENTIFY_SYSTEM`: system id, timeline, current WAL position, database.
    public nonisolated(nonsending) func identifySystem() async throws(PostgresReplicationError) -> SystemIdentity {
        let rows = try await simpleQuery("IDENTIFY_SYSTEM")
        guard let row = rows.first, row.count >= 4, let systemID = row[0], let timelineText = row[1],
            let timeline = Int(timelineText), let positionText = row[2], let position = LSN(positionText)
        else {
            throw PostgresReplicationError(.protocolViolation, "unexpected IDENTIFY_SYSTEM result \(rows)")
        }
        return SystemIdentity(systemID: systemID, timeline: timeline, xLogPosition: position, database: row[3])
    }

    /// `CREATE_REPLICATION_SLOT name [TEMPORARY] LOGICAL pgoutput`.
    ///
    /// - Parameters:
    ///   - name: lower-case letters, digits and underscores (Postgres' rule).
    ///   - temporary: dropped when this connection ends.
    ///   - exportSnapshot: export a snapshot for a consistent initial copy.
    ///     It lives until this connection runs its next command.
    /// - Throws: `.walLevelNotLogical`, `.slotExists`, `.replicationPrivilegeMissing`, ...
    public nonisolated(nonsending) func createReplicationSlot(name: String, temporary: Bool = false, exportSnapshot: Bool)
        async throws(PostgresReplicationError) -> CreatedSlot
    {
        try Self.validateSlotName(name)
        let sql =
            "CREATE_REPLICATION_SLOT \(name)\(temporary ? " TEMPORARY" : "") LOGICAL pgoutput "
            + (exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT")
        let rows = try await simpleQuery(sql)
        guard let row = rows.first, row.count >= 4, let slotName = row[0], let pointText = row[1],
            let point = LSN(pointText)
        else {
            throw PostgresReplicationError(.protocolViolation, "unexpected CREATE_REPLICATION_SLOT result \(rows)")
        }
        return CreatedSlot(name: slotName, consistentPoint: point, snapshotName: row[2], outputPlugin: row[3] ?? "")
    }

    /// `DROP_REPLICATION_SLOT name WAIT`.
    public nonisolated(nonsending) func dropReplicationSlot(name: String) async throws(PostgresReplicationError) {
        try Self.validateSlotName(name)
        _ = try await simpleQuery("DROP_REPLICATION_SLOT \(name) WAIT")
    }

    static func validateSlotName(_ name: String) throws(PostgresReplicationError) {
        let valid =
            !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        guard valid else {
            throw PostgresReplicationError(
                .invalidConfiguration, "slot name '\(name)' must be lower-case letters, digits and underscores")
        }
    }

    /// `START_REPLICATION SLOT s LOGICAL lsn (proto_version '1', publication_names '...', messages '...')`,
    /// then CopyBoth.
    ///
    /// - Parameters:
    ///   - slot: an existing logical slot using pgoutput.
    ///   - startLSN: where to resume; the server starts at the slot's
    ///     confirmed_flush_lsn when this is older.
    ///   - publications: publication names; a missing one fails the stream
    ///     (`.publicationMissing`) when the first change is decoded.
    ///   - messages: also stream `pg_logical_emit_message` messages.
    ///   - streaming: ask for protocol 2 with `streaming 'on'` (Postgres 14+):
    ///     large transactions come in stream blocks while they run.
    /// - Returns: the stream; iterate it from this task.
    /// - Throws: `.slotInUse`, `.slotMissing`, ... when the server refuses.
    public nonisolated(nonsending) func startReplication(
        slot: String, startLSN: LSN, publications: [String], messages: Bool = true, streaming: Bool = false
    )
        async throws(PostgresReplicationError) -> ReplicationStream
    {
        try Self.validateSlotName(slot)
        guard !isStreaming else { throw PostgresReplicationError(.invalidState, "already streaming") }
        let names = publications.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
            .joined(separator: ",").replacingOccurrences(of: "'", with: "''")
        try await send(
            .query(
                "START_REPLICATION SLOT \(slot) LOGICAL \(startLSN) (proto_version '\(streaming ? 2 : 1)', publication_names '\(names)'"
                    + ", messages '\(messages)'\(streaming ? ", streaming 'on'" : ""))"))
        var replies = CommandReplies(context: "START_REPLICATION")
        while let message = try await nextReply(&replies) {
            if message.id == .copyBothResponse {
                isStreaming = true
                logger.debug(
                    "postgres.replication_started", metadata: ["postgres.slot": "\(slot)", "postgres.lsn": "\(startLSN)"])
                return ReplicationStream(connection: self)
            }
        }
        throw PostgresReplicationError(.protocolViolation, "START_REPLICATION ended without CopyBoth")
    }

    /// The next replication message, or nil when the server ended the stream.
    nonisolated(nonsending) func nextReplicationMessage() async throws(PostgresReplicationError) -> ReplicationMessage? {
        guard isStreaming else { return nil }
        while true {
            var message = try await receive()
            switch message.id {
            case .copyData:
                return try Self.parseCopyData(&message.body)
            case .errorResponse:
                isStreaming = false
                throw PostgresReplicationError(server: message.body.readErrorFields(), context: "replication stream")
            case .copyDone:
                // The server ended COPY (e.g. shutdown): finish our side and drain to ReadyForQuery.
                try await send(.copyDone)
                try await drainUntilReady()
                isStreaming = false
                return nil
            default:
                continue
            }
        }
    }

    static func parseCopyData(_ body: inout ByteBuffer) throws(PostgresReplicationError) -> ReplicationMessage {
        guard let kind = body.readInteger(as: UInt8.self) else {
            throw PostgresReplicationError(.protocolViolation, "empty CopyData in the replication stream")
        }
        switch ReplicationMessageID(rawValue: kind) {
        case .xLogData:
            guard let start = body.readInteger(as: UInt64.self), let end = body.readInteger(as: UInt64.self),
                let time = body.readInteger(as: Int64.self)
            else { throw PostgresReplicationError(.protocolViolation, "XLogData header truncated") }
            let payload = body.readBytes(length: body.readableBytes) ?? []
            return .xLogData(
                XLogData(
                    dataStart: LSN(start), walEnd: LSN(end), serverTime: PostgresTimestamp(rawValue: time),
                    payload: payload))
        case .primaryKeepalive:
            guard let end = body.readInteger(as: UInt64.self), let time = body.readInteger(as: Int64.self),
                let reply = body.readInteger(as: UInt8.self)
            else { throw PostgresReplicationError(.protocolViolation, "primary keepalive truncated") }
            return .keepalive(
                PrimaryKeepalive(walEnd: LSN(end), serverTime: PostgresTimestamp(rawValue: time), replyRequested: reply != 0))
        default:
            throw PostgresReplicationError(
                .protocolViolation, "unknown replication message '\(Character(Unicode.Scalar(kind)))'")
        }
    }

    /// Sends a standby status update (`r`). `write`/`flush`/`apply` are the
    /// positions durably handled; the slot's confirmed_flush_lsn follows `flush`.
    public nonisolated(nonsending) func sendStandbyStatus(write: LSN, flush: LSN, apply: LSN, replyRequested: Bool = false)
        async throws(PostgresReplicationError)
    {
        try await statusSender.send(write: write, flush: flush, apply: apply, replyRequested: replyRequested)
    }

    /// Ends CopyBoth cleanly (CopyDone, then drains the rest of the stream up
    /// to ReadyForQuery); afterwards the connection takes commands again.
    public nonisolated(nonsending) func endReplication() async throws(PostgresReplicationError) {
        guard isStreaming else { return }
        try await send(.copyDone)
        try await drainUntilReady()
        isStreaming = false
    }

    private nonisolated(nonsending) func drainUntilReady() async throws(PostgresReplicationError) {
        // The stream is over either way: an error at its end changes nothing.
        var replies = CommandReplies(
            context: "ending replication", errorHandling: .logAndContinue(event: "postgres.replication_end_failed"))
        while try await nextReply(&replies) != nil {}
    }

    /// Closes the socket now (for shutdown from a signal); `withConnection` also closes it.
    public nonisolated(nonsending) func close() async {
        try? await channel.close()
    }
}

/// Sends standby status updates; may be used from any task, e.g. a timer
/// that keeps `wal_sender_timeout` from firing while the consumer is slow.
public struct StandbyStatusSender: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<FrontendMessage>

    /// Sends `r` with the given positions and the current time.
    public func send(write: LSN, flush: LSN, apply: LSN, replyRequested: Bool = false)
        async throws(PostgresReplicationError)
    {
        let now = Date().timeIntervalSince1970
        let update = StandbyStatusUpdate(
            write: write, flush: flush, apply: apply,
            clientTime: PostgresTimestamp(unixMicroseconds: Int64(now * 1_000_000)), replyRequested: replyRequested)
        do {
            try await outbound.write(.copyData(update.bytes))
        } catch {
            throw PostgresReplicationError(.connectionClosed, "cannot send standby status update", underlying: error)
        }
    }

    /// Asks the server to end the stream (CopyDone): it stops sending, and
    /// the stream's iterator returns nil once the messages already on their
    /// way are read. For a clean shutdown from another task; send the last
    /// status update first (after CopyDone the server takes none).
    public func endStream() async throws(PostgresReplicationError) {
        do {
            try await outbound.write(.copyDone)
        } catch {
            throw PostgresReplicationError(.connectionClosed, "cannot send CopyDone", underlying: error)
        }
    }
}
