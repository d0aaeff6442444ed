import LogStore
import Logging

/// How one connection's session ended.
struct SessionOutcome: Sendable {
    /// The last position acknowledged to Postgres.
    var acknowledged: LSN
    /// The stream ended without an error (we or the server sent CopyDone).
    var streamEnded: Bool
    /// `untilCaughtUp` reached its target.
    var caughtUp: Bool
}

/// One connection of `PostgresIngester`: set up the publication and slot,
/// take the snapshot when asked, then stream until stopped, caught up or
/// disconnected.
struct IngestSession {
    let ingester: PostgresIngester
    let writer: TransactionWriter
    let onSnapshotProgress: @Sendable (SnapshotProgress) -> Void

    var options: PostgresIngestOptions { ingester.options }
    var logger: Logger { ingester.logger }

    func run(
        isolation: isolated (any Actor)? = #isolation, target: inout LSN?, summary: inout IngestSummary,
        connected: () -> Void
    ) async throws -> SessionOutcome {
        try await ReplicationConnection.withConnection(configuration: options.connection, logger: logger) { connection in
            let identity = try await connection.identifySystem()
            let (startLSN, source) = try await prepare(connection, identity: identity, summary: &summary)
            let types = try await DomainCatalog.lookUp(publishedBy: options.publications, on: connection)
            if options.untilCaughtUp && target == nil {
                // IDENTIFY_SYSTEM gives the flush position; a transaction committed with
                // synchronous_commit=off may end past it. The insert position covers it.
                let inserted = try await connection.simpleQuery("SELECT pg_current_wal_insert_lsn()")
                let insertLSN = inserted.first?.first.flatMap { $0 }.flatMap { LSN($0) } ?? identity.xLogPosition
                let caughtUpAt = max(identity.xLogPosition, insertLSN, startLSN)
                target = caughtUpAt
                logger.info("ingest.target", metadata: ["postgres.lsn": "\(caughtUpAt)"])
            }
            // Streaming of in-progress transactions needs protocol 2, Postgres 14+.
            let streaming = options.streaming && (connection.serverMajorVersion ?? 0) >= 14
            let parameter = PostgresIngestOptions.decodingMemoryParameter
            if streaming, let kB = options.streamingDecodingMemoryKB, options.connection.runtimeParameters[parameter] == nil {
                _ = try await connection.simpleQuery("SET \(parameter) = '\(kB)kB'")
            }
            let decodingMemory = streaming ? try await connection.simpleQuery("SHOW \(parameter)").first?.first ?? nil : nil
            let stream = try await startReplication(connection, from: startLSN, streaming: streaming)
            connected()
            logger.info(
                "ingest.streaming",
                metadata: [
                    "postgres.slot": "\(options.slot)", "postgres.lsn": "\(startLSN)",
                    "log.next_offset": "\(ingester.log.nextOffset)", "postgres.streaming": "\(streaming)",
                    "postgres.decoding_memory": "\(decodingMemory ?? "-")",
                ])
            // What an earlier session staged is gone: Postgres sends those transactions again from their start.
            let staging = streaming ? try StreamStaging(logDirectory: ingester.log.directory) : nil
            if !streaming { StreamStaging.removeLeftovers(logDirectory: ingester.log.directory) }
            defer { staging?.close() }
            do {
                let record = AcknowledgementRecord(source: source, logDirectory: ingester.log.directory)
                return try await consume(
                    stream, sender: connection.statusSender, record: record, target: target, types: types, staging: staging)
            } catch {
                // Whatever ended the stream, the log must end on a whole transaction.
                try writer.abandon()
                throw error
            }
        }
    }

    // MARK: - Setup

    /// Checks the log's source, makes the publication and slot when asked,
    /// takes the snapshot when needed.
    /// - Returns: the position to start streaming from, and the log's source
    ///   as saved.
    private func prepare(
        isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection,
        identity: ReplicationConnection.SystemIdentity, summary: inout IngestSummary
    ) async throws -> (start: LSN, source: IngestSource) {
        let directory = ingester.log.directory
        let stored = try IngestSource.load(logDirectory: directory)
        var source = try checkSource(stored: stored, identity: identity)
        try await ensurePublications(connection)
        let slot = try await checkSlot(connection)
        if let gap = detectGap(slot: slot, stored: stored) {
            let start = try await handleGap(gap, connection, slot: slot, source: &source, summary: &summary)
            return (start, source)
        }
        if try needsSnapshot(stored: stored, source: &source) {
            let start = try await takeSnapshot(
                connection, slotExists: slot != nil, stored: stored, source: &source, summary: &summary)
            return (start, source)
        }
        if let confirmed = slot?.confirmedFlush {
            if stored?.acknowledgedLSN == nil && writer.transactionCount > 0 {
                // A source written before logd recorded its acknowledgements: nothing to compare the slot with.
                logger.notice(
                    "ingest.slot_position_unchecked",
                    metadata: ["postgres.slot": "\(options.slot)", "postgres.confirmed_flush_lsn": "\(confirmed)"])
            }
            // Taken on (or checked above): its position is one this log follows on from.
            source.acknowledgedLSN = max(source.acknowledgedLSN ?? .zero, confirmed)
        } else if slot == nil {
            let point = try await createSlot(connection)
            source.slotCreatedLSN = point
            source.acknowledgedLSN = point
        }
        if stored != source { try source.save(logDirectory: directory) }
        return (writer.lastEndLSN, source)
    }

    /// The source this session ingests from; throws when the log holds
    /// another server's, database's or slot's changes.
    private func checkSource(stored: IngestSource?, identity: ReplicationConnection.SystemIdentity) throws -> IngestSource {
        var source = IngestSource(
            systemID: identity.systemID, host: options.connection.host, port: options.connection.port,
            database: options.connection.database, user: options.connection.user, slot: options.slot,
            publications: options.publications, snapshot: stored?.snapshot ?? .none)
        source.gaps = stored?.gaps ?? 0
        source.lastGap = stored?.lastGap
        source.gapPending = stored?.gapPending
        source.slotCreatedLSN = stored?.slotCreatedLSN
        source.acknowledgedLSN = stored?.acknowledgedLSN
        if let stored, !stored.isSameStream(as: source) {
            throw IngestError(
                .sourceMismatch,
                "log \(ingester.log.directory) holds changes of system \(stored.systemID), database \(stored.database), slot \(stored.slot); "
                    + "this is system \(source.systemID), database \(source.database), slot \(source.slot): ingest into a new log"
            )
        }
        if let stored, Set(stored.publications) != Set(source.publications) {
            // Allowed (the tables streamed may change), and recorded when the source is saved.
            logger.notice(
                "ingest.publications_changed",
                metadata: [
                    "postgres.publications": "\(source.publications.joined(separator: ","))",
                    "ingest.previous_publications": "\(stored.publications.joined(separator: ","))",
                ])
        }
        return source
    }

    /// Why the slot cannot follow on from the log.
    enum Gap {
        /// An earlier run stopped while it recorded a gap.
        case pending(String)
        /// Dropped, or never made for this log.
        case missing
        /// `wal_status` lost.
        case invalidated
        /// Its position is below the point logd created this log's slot at.
        case otherSlot(confirmed: LSN, created: LSN)
        /// Its position is past anything this log's ingester acknowledged.
        case advanced(confirmed: LSN, bound: LSN)
    }

    /// The words for `gap` in errors, logs and the marker.
    private func describe(_ gap: Gap) -> String {
        let slot = options.slot
        switch gap {
        case .pending(let reason):
            return "an earlier run stopped while it recorded a gap (\(reason))"
        case .missing:
            return "replication slot \(slot) does not exist (it was dropped, or never made for this log)"
        case .invalidated:
            return "replication slot \(slot) was invalidated (wal_status lost: the server removed WAL it still needed, "
                + "see max_slot_wal_keep_size)"
        case .otherSlot(let confirmed, let created):
            return "replication slot \(slot) is at LSN \(confirmed), before LSN \(created) where logd created this log's slot: "
                + "it is another slot of the same name (or the server was restored to an earlier state)"
        case .advanced(let confirmed, let bound):
            return "replication slot \(slot) is at LSN \(confirmed) (confirmed_flush_lsn), past LSN \(bound), the furthest "
                + "this log's ingester acknowledged: somebody else moved it on (pg_replication_slot_advance, or another "
                + "consumer of the slot), or it was dropped and created anew"
        }
    }

    /// Why the slot cannot follow on from the log, nil when it can. A log
    /// without changes, whose source knows no position of its slot either,
    /// has nothing to follow on from (docs/CDC.md, "Gaps").
    private func detectGap(slot: SlotState?, stored: IngestSource?) -> Gap? {
        if let pending = stored?.gapPending { return .pending(pending) }
        if stored?.snapshot == .started && writer.transactionCount == 0 {
            // An interrupted snapshot: it starts over with a new slot, and the log has no changes to follow.
            return nil
        }
        guard writer.transactionCount > 0 || stored?.acknowledgedLSN != nil else { return nil }
        guard let slot else { return .missing }
        if slot.walStatus == "lost" { return .invalidated }
        guard let confirmed = slot.confirmedFlush else { return nil }
        if let created = stored?.slotCreatedLSN, confirmed < created {
            return .otherSlot(confirmed: confirmed, created: created)
        }
        // A source from before logd recorded its acknowledgements has nothing to compare with.
        guard let acknowledged = stored?.acknowledgedLSN else { return nil }
        let bound = max(writer.lastEndLSN, acknowledged)
        return confirmed > bound ? .advanced(confirmed: confirmed, bound: bound) : nil
    }

    /// The error that refuses to stream over `gap`.
    private func gapError(_ gap: Gap) -> IngestError {
        IngestError(
            .gap,
            "\(describe(gap)). Log \(ingester.log.directory) holds \(writer.transactionCount) transactions up to LSN "
                + "\(writer.lastEndLSN); streaming on would leave out changes committed since, without a trace. Run again with "
                + "--resnapshot (a gap marker, then a fresh snapshot of the published tables, then streaming) or --allow-gap "
                + "(only the gap marker), or ingest into a new log")
    }

    /// Refuses to stream past a gap, or, as `gapHandling` says, records it
    /// (op `g`), with a full image of the published tables from a new slot
    /// under `.resnapshot`. A slot that was only moved on is kept under
    /// `.allowGap`: the gap ends where it stands.
    /// - Returns: where streaming starts.
    private func handleGap(
        isolation: isolated (any Actor)? = #isolation, _ gap: Gap, _ connection: ReplicationConnection, slot: SlotState?,
        source: inout IngestSource, summary: inout IngestSummary
    ) async throws -> LSN {
        let directory = ingester.log.directory
        let after = writer.lastEndLSN
        guard options.gapHandling != .refuse else { throw gapError(gap) }
        let reason = describe(gap).replacingOccurrences(of: "\n", with: " ")
        source.gapPending = reason
        try source.save(logDirectory: directory)
        let resnapshot = options.gapHandling == .resnapshot
        let until: LSN
        var snapshotName: String?
        if case .advanced(let confirmed, _) = gap, !resnapshot {
            until = confirmed
        } else {
            if slot != nil {
                try await connection.dropReplicationSlot(name: options.slot)
            }
            let created = try await connection.createReplicationSlot(name: options.slot, exportSnapshot: resnapshot)
            until = created.consistentPoint
            source.slotCreatedLSN = until
            if resnapshot {
                guard let name = created.snapshotName else {
                    throw PostgresReplicationError(.protocolViolation, "CREATE_REPLICATION_SLOT exported no snapshot")
                }
                snapshotName = name
            }
        }
        source.acknowledgedLSN = max(source.acknowledgedLSN ?? .zero, until)
        logger.warning(
            "ingest.gap_recorded",
            metadata: [
                "postgres.slot": "\(options.slot)", "ingest.gap_after": "\(after)", "ingest.gap_until": "\(until)",
                "ingest.resnapshot": "\(resnapshot)", "ingest.reason": "\(reason)",
            ])
        var envelope = ChangeEnvelope()
        let marker = { (at: ChangeSource) in
            envelope.gap(after: after, until: until, reason: reason, resnapshot: resnapshot, source: at)
        }
        if let snapshotName {
            source.snapshot = .started
            try source.save(logDirectory: directory)
            summary.snapshotRows += try await SnapshotCopier(session: self).copy(
                snapshotName: snapshotName, consistentPoint: until, prelude: marker)
            source.snapshot = .done
        } else {
            try writer.begin(ChangeSource(lsn: until, commitLSN: until, xid: nil, transactionOrdinal: 0, commitTimestamp: nil))
            do {
                try writer.add(marker(writer.currentSource(for: "the gap marker")))
                if let receipt = try writer.commit(endLSN: until) { try await writer.log.waitUntilDurable(receipt) }
            } catch {
                try writer.abandon()
                throw error
            }
        }
        source.gaps += 1
        source.lastGap = "\(after)..\(until)"
        source.gapPending = nil
        try source.save(logDirectory: directory)
        return until
    }

    /// Whether to take the initial snapshot now: asked for, and neither taken
    /// already nor made pointless by records in the log. Records that a
    /// snapshot was finished when only that note was lost.
    private func needsSnapshot(stored: IngestSource?, source: inout IngestSource) throws -> Bool {
        let directory = ingester.log.directory
        let logHasRecords = ingester.log.nextOffset > ingester.log.lowestOffset
        switch stored?.snapshot {
        case .started?:
            if writer.transactionCount > 0 {
                // The snapshot's records are whole in the log; only the note that it finished was lost.
                source.snapshot = .done
                try source.save(logDirectory: directory)
                return false
            }
            guard options.snapshot else {
                throw IngestError(
                    .snapshotUnavailable,
                    "the initial snapshot into \(directory) was interrupted: run again with --snapshot to take it again "
                        + "(slot \(options.slot) is dropped and created anew)")
            }
            return true
        case .done?:
            if options.snapshot {
                logger.notice("ingest.snapshot_skipped", metadata: ["reason": "the log's snapshot was taken"])
            }
            return false
        case .none?, nil:
            if options.snapshot && logHasRecords {
                logger.notice("ingest.snapshot_skipped", metadata: ["reason": "the log already holds records"])
            }
            return options.snapshot && !logHasRecords
        }
    }

    /// Creates the slot with an exported snapshot (dropping the slot of an
    /// interrupted snapshot first) and copies the tables inside it.
    /// - Returns: the slot's consistent point, where streaming starts.
    private func takeSnapshot(
        isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection, slotExists: Bool,
        stored: IngestSource?, source: inout IngestSource, summary: inout IngestSummary
    ) async throws -> LSN {
        let directory = ingester.log.directory
        if slotExists {
            guard stored?.snapshot == .started else {
                throw IngestError(
                    .snapshotUnavailable,
                    "replication slot \(options.slot) already exists, but a consistent snapshot needs a slot created with it: "
                        + "drop it (SELECT pg_drop_replication_slot('\(options.slot)')) or ingest without --snapshot")
            }
            logger.warning("ingest.snapshot_restarted", metadata: ["postgres.slot": "\(options.slot)"])
            try await connection.dropReplicationSlot(name: options.slot)
        }
        let created = try await connection.createReplicationSlot(name: options.slot, exportSnapshot: true)
        guard let snapshotName = created.snapshotName else {
            throw PostgresReplicationError(.protocolViolation, "CREATE_REPLICATION_SLOT exported no snapshot")
        }
        logger.info(
            "ingest.slot_created", metadata: ["postgres.slot": "\(options.slot)", "postgres.lsn": "\(created.consistentPoint)"])
        source.snapshot = .started
        source.slotCreatedLSN = created.consistentPoint
        source.acknowledgedLSN = created.consistentPoint
        try source.save(logDirectory: directory)
        summary.snapshotRows += try await SnapshotCopier(session: self).copy(
            snapshotName: snapshotName, consistentPoint: created.consistentPoint)
        source.snapshot = .done
        try source.save(logDirectory: directory)
        return created.consistentPoint
    }

    /// Creates the slot (without a snapshot) when `create` allows it.
    /// - Returns: its consistent point.
    private func createSlot(isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection) async throws
        -> LSN
    {
        guard options.create else {
            throw IngestError(
                .setupMissing,
                "replication slot \(options.slot) does not exist in database \(options.connection.database): pass --create "
                    + "(or --snapshot), or create it with SELECT pg_create_logical_replication_slot('\(options.slot)', 'pgoutput')"
            )
        }
        let created = try await connection.createReplicationSlot(name: options.slot, exportSnapshot: false)
        logger.info(
            "ingest.slot_created", metadata: ["postgres.slot": "\(options.slot)", "postgres.lsn": "\(created.consistentPoint)"])
        return created.consistentPoint
    }

    /// Makes the publications that are missing when `create` allows it, all
    /// in one statement (an implicit transaction: all of them or none).
    private func ensurePublications(isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection)
        async throws
    {
        let rows = try await connection.simpleQuery(
            "SELECT pubname FROM pg_publication WHERE pubname IN (\(SQL.literals(options.publications)))")
        let existing = Set(rows.compactMap { $0.first ?? nil })
        let missing = options.publications.filter { !existing.contains($0) }
        guard !missing.isEmpty else { return }
        guard options.create else {
            let names = missing.joined(separator: ", ")
            let creates = missing.map { "CREATE PUBLICATION \(SQL.identifier($0)) FOR ALL TABLES" }.joined(separator: "; ")
            throw IngestError(
                .setupMissing,
                "\(missing.count == 1 ? "publication \(names) does not" : "publications \(names) do not") exist in database "
                    + "\(options.connection.database): pass --create, or run \(creates)")
        }
        let what =
            options.tables.isEmpty
            ? "FOR ALL TABLES" : "FOR TABLE " + options.tables.map(SQL.qualifiedIdentifier).joined(separator: ", ")
        _ = try await connection.simpleQuery(
            missing.map { "CREATE PUBLICATION \(SQL.identifier($0)) \(what)" }.joined(separator: "; "))
        for name in missing {
            logger.info(
                "ingest.publication_created", metadata: ["postgres.publication": "\(name)", "postgres.tables": "\(what)"])
        }
    }

    /// The slot as `pg_replication_slots` shows it.
    struct SlotState {
        /// `reserved`, `extended`, `unreserved` or `lost` (invalidated: it can no longer stream).
        var walStatus: String?
        var confirmedFlush: LSN?
    }

    /// The slot, nil when it does not exist; throws when it is not a pgoutput slot of this database.
    private func checkSlot(isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection) async throws
        -> SlotState?
    {
        let rows = try await connection.simpleQuery(
            "SELECT plugin, database, slot_type, wal_status, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = \(SQL.literal(options.slot))"
        )
        guard let row = rows.first else { return nil }
        guard row.count == 5, row[2] == "logical", row[0] == "pgoutput", row[1] == options.connection.database else {
            throw IngestError(
                .setupMissing,
                "replication slot \(options.slot) is a \(row.count > 2 ? row[2] ?? "?" : "?") slot for plugin \(row.first.flatMap { $0 } ?? "none") "
                    + "in database \(row.count > 1 ? row[1] ?? "none" : "none"); logd needs a logical pgoutput slot in \(options.connection.database)"
            )
        }
        return SlotState(walStatus: row[3], confirmedFlush: row[4].flatMap { LSN($0) })
    }

    /// START_REPLICATION, waiting (bounded, logged) while another process
    /// still holds the slot: right after a crash Postgres may not have
    /// noticed yet that the old connection is gone.
    private func startReplication(
        isolation: isolated (any Actor)? = #isolation, _ connection: ReplicationConnection, from start: LSN, streaming: Bool
    ) async throws -> ReplicationStream {
        let deadline = ContinuousClock.now + options.slotInUseTimeout
        var delay = Duration.milliseconds(250)
        while true {
            let failure: PostgresReplicationError
            do {
                return try await connection.startReplication(
                    slot: options.slot, startLSN: start, publications: options.publications, streaming: streaming)
            } catch {
                failure = error
            }
            if failure.sqlState == "55000", try await checkSlot(connection)?.walStatus == "lost" {
                // Invalidated since the check above: the server refuses to decode from it.
                throw gapError(.invalidated)
            }
            if failure.code != .slotInUse || ContinuousClock.now + delay >= deadline || ingester.stopSignal.isStopped {
                throw failure
            }
            do {
                logger.warning(
                    "ingest.slot_in_use", metadata: ["postgres.slot": "\(options.slot)", "ingest.retry_in": "\(delay)"])
                try await ingester.sleep(delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    // MARK: - Streaming

    private func consume(
        isolation: isolated (any Actor)? = #isolation, _ stream: ReplicationStream, sender: StandbyStatusSender,
        record: AcknowledgementRecord, target: LSN?, types: DomainCatalog.Lookup, staging: StreamStaging?
    ) async throws -> SessionOutcome {
        let acknowledger = IngestAcknowledger(start: writer.lastEndLSN)
        ingester.stopSignal.attach(acknowledger)
        defer { ingester.stopSignal.attach(nil) }
        let (receipts, receiptSink) = AsyncStream.makeStream(of: (AppendReceipt, LSN).self, bufferingPolicy: .bufferingNewest(1))
        let log = ingester.log
        let interval = options.statusInterval
        var decoder = StreamDecoder(writer: writer, logger: logger, tombstones: options.tombstonesOnDelete, staging: staging)
        decoder.relations.apply(lookedUp: types.lookedUp, domains: types.domains)
        var group = TaskGroupHandle()
        group.start {
            // Acknowledges each transaction once it is durable (waiting on the newest covers the older ones).
            for await (receipt, end) in receipts {
                try await log.waitUntilDurable(receipt)
                acknowledger.durable(end: end)
            }
        }
        group.start {
            try await StatusTimer(
                sender: sender, acknowledger: acknowledger, record: record, log: log, target: target, interval: interval
            ).run()
        }
        do {
            for try await message in stream {
                switch message {
                case .xLogData(let data):
                    let (decoded, streamXid) = try PgOutputDecoder.decode(data.payload[...], inStream: decoder.isInStreamBlock)
                    if case .relation(let relation) = decoded {
                        try await lookUpNewTypes(of: relation, into: &decoder.relations)
                    }
                    if let committed = try decoder.handle(decoded, at: data.dataStart, streamXid: streamXid) {
                        acknowledger.appended(end: committed.end)
                        if let receipt = committed.receipt {
                            receiptSink.yield((receipt, committed.end))
                        } else {
                            acknowledger.durable(end: committed.end)
                        }
                    }
                case .keepalive(let keepalive):
                    // A streamed transaction that has not committed is in flight too: its
                    // changes are only staged, never to be acknowledged.
                    acknowledger.keepalive(
                        walEnd: keepalive.walEnd, inTransaction: writer.inTransaction || !(staging?.isEmpty ?? true),
                        replyRequested: keepalive.replyRequested)
                }
            }
        } catch {
            receiptSink.finish()
            await group.cancelAndWait()
            throw error
        }
        receiptSink.finish()
        try writer.abandon()
        await group.cancelAndWait()
        let state = acknowledger.state.withLock { $0 }
        return SessionOutcome(acknowledged: state.acknowledged, streamEnded: true, caughtUp: state.caughtUp)
    }

    /// Looks up the column types of `relation` that this session has not
    /// looked up yet (a domain, or an array of one, is written as its base
    /// type), before the decoder applies it: on a normal connection, as the
    /// replication connection streams (`DomainCatalog`).
    private func lookUpNewTypes(
        isolation: isolated (any Actor)? = #isolation, of relation: RelationMessage, into relations: inout RelationCache
    ) async throws {
        let unknown = relations.typesToLookUp(in: relation)
        guard !unknown.isEmpty else { return }
        let found = try await DomainCatalog.lookUp(types: unknown, configuration: options.connection, logger: logger)
        relations.apply(lookedUp: found.lookedUp, domains: found.domains)
    }
}

/// Unstructured child tasks of a session, cancelled and awaited together
/// (a task group's body could not iterate the connection's stream, which is
/// not Sendable, and run beside them).
struct TaskGroupHandle {
    private var tasks: [Task<Void, any Error>] = []

    mutating func start(_ body: @escaping @Sendable () async throws -> Void) {
        tasks.append(Task { try await body() })
    }

    func cancelAndWait() async {
        for task in tasks { task.cancel() }
        for task in tasks { _ = await task.result }
    }
}
