import AsyncTestSupport
import Foundation
import LogStore
import PostgresTestSupport
import Synchronization
import SystemPackage
import Testing

@testable import PostgresCDC

/// Protocol 2 streaming of in-progress transactions (docs/CDC.md, "Streaming
/// of large transactions"), against a real Postgres 15 whose walsender
/// streams any transaction over `logical_decoding_work_mem` = 64 kB.
@Suite(.offPool) struct IngestStreamingTests {
    /// Makes the ingester's walsender stream every transaction over 64 kB.
    static func smallDecodingMemory(_ options: inout PostgresIngestOptions) {
        options.streaming = true
        options.connection.runtimeParameters["logical_decoding_work_mem"] = "64kB"
    }

    /// Every record of a log, as stored.
    static func records(of log: Log) throws -> [StoredRecord] {
        try log.read(from: log.lowestOffset, maxRecords: Int.max, maxBytes: Int.max)
    }

    /// Two large transactions open at once, one committing with a savepoint
    /// rolled back and one released inside it, the other rolled back, and a
    /// small transaction that starts after them and commits first: the
    /// streamed log equals, record for record, the log a protocol 1 slot made
    /// at the same point gives.
    @Test func streamedTransactionsGiveTheSameLogAsProtocolOne() async throws {
        let name = "stream_same"
        try await IngestFixture.run(
            name, tables: [name], setup: "CREATE TABLE \(name) (id int PRIMARY KEY, note text)"
        ) { fixture in
            let reference = "\(name)_p1"
            try await fixture.sql("SELECT pg_create_logical_replication_slot('\(reference)', 'pgoutput')")
            let configuration = fixture.server.configuration(replication: .none)
            try await ReplicationConnection.withConnection(configuration: configuration) { first in
                try await ReplicationConnection.withConnection(configuration: configuration) { second in
                    _ = try await first.simpleQuery(
                        "BEGIN; INSERT INTO \(name) SELECT g, repeat('a', 200) FROM generate_series(1, 1500) g")
                    _ = try await second.simpleQuery(
                        "BEGIN; INSERT INTO \(name) SELECT g, repeat('b', 200) FROM generate_series(100001, 101500) g")
                    try await fixture.sql("INSERT INTO \(name) VALUES (900001, 'started later, committed first')")
                    _ = try await first.simpleQuery(
                        """
                        SAVEPOINT s1; INSERT INTO \(name) SELECT g, repeat('s', 200) FROM generate_series(2001, 3500) g;
                        ROLLBACK TO SAVEPOINT s1;
                        UPDATE \(name) SET note = 'updated' WHERE id <= 10; DELETE FROM \(name) WHERE id BETWEEN 11 AND 20;
                        SAVEPOINT s2; INSERT INTO \(name) SELECT g, repeat('k', 200) FROM generate_series(4001, 5500) g;
                        RELEASE SAVEPOINT s2; COMMIT
                        """)
                    _ = try await second.simpleQuery("ROLLBACK")
                }
            }
            try await fixture.sql("INSERT INTO \(name) VALUES (900002, 'after')")

            let streamed = try await fixture.ingest(Self.smallDecodingMemory)
            #expect(streamed.streamedTransactions == 1, "the committed large transaction came streamed: \(streamed)")
            #expect(!FileManager.default.fileExists(atPath: fixture.log.directory.appending(StreamStaging.directoryName).string))

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "logd-\(reference)-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let referenceLog = try Log.open(directory: FilePath(directory.path))
            var options = fixture.options()
            options.slot = reference
            Self.smallDecodingMemory(&options)
            options.streaming = false
            let ingester = PostgresIngester(log: referenceLog, options: options)
            let summary = try await withTimeout(seconds: 300) { try await ingester.run() }
            #expect(summary.streamedTransactions == 0)
            try await fixture.waitUntilSlotIsFree(reference)
            try await fixture.dropSlot(reference)

            // Other tests' logical messages reach every slot (publications do not filter them), each a
            // transaction of its own: left out, and with them the transaction numbers they take.
            let expected = try Self.records(of: referenceLog).filter { !Self.isOtherTestsMessage($0, name) }.map(Self.unnumbered)
            let got = try Self.records(of: fixture.log).filter { !Self.isOtherTestsMessage($0, name) }.map(Self.unnumbered)
            #expect(got.count == expected.count)
            #expect(expected.count > 3000, "the reference holds the large transaction")
            for (offset, (record, reference)) in zip(got, expected).enumerated() where record.record != reference.record {
                Issue.record("record \(offset) differs:\n\(Self.describe(record))\nprotocol 1:\n\(Self.describe(reference))")
                break
            }
            let transactions = try fixture.transactions()
            let rows = Set(transactions.flatMap { $0 }.compactMap { $0.after?["id"] as? Int })
            #expect(!rows.contains(2001), "the rolled-back savepoint's rows are not there")
            #expect(!rows.contains(100001), "the rolled-back transaction's rows are not there")
            #expect(rows.contains(4001) && rows.contains(1500), "the committed transaction's rows are there")
            try referenceLog.close()
            #expect(try Log.verify(directory: referenceLog.directory).isClean)
        }
    }

    /// Another table's large transactions stream to this slot as empty
    /// stream blocks (publications filter their changes, not the blocks).
    /// The walsender is ended in the middle of one; the ingester is stopped
    /// after the first of two commits, while the other is in flight, and a
    /// new one started (as after a crash); its walsender is ended once more
    /// after both. Each reconnect and start finds the slot where the ingester
    /// left it, never past what its log or `source` knows: no false gap (the
    /// first CI run with streaming on found slots there; an empty streamed
    /// commit that moved the acknowledged position unrecorded fails here).
    /// The table's own changes before, between and after are in the log once.
    @Test func reconnectsAcrossAnotherTablesStreamedTransactionFindNoGap() async throws {
        let name = "stream_other"
        let other = "\(name)_unpublished"
        try await IngestFixture.run(
            name, tables: [name],
            setup: "CREATE TABLE \(name) (id int PRIMARY KEY, note text); CREATE TABLE \(other) (id int PRIMARY KEY, note text)"
        ) { fixture in
            var options = fixture.options()
            options.untilCaughtUp = false
            options.statusInterval = .milliseconds(100)
            Self.smallDecodingMemory(&options)
            let failure = RunFailure()
            func start() -> (PostgresIngester, Task<IngestSummary, any Error>) {
                let ingester = PostgresIngester(log: fixture.log, options: options)
                return (
                    ingester,
                    Task {
                        do {
                            return try await ingester.run()
                        } catch {
                            failure.error.withLock { $0 = error }
                            throw error
                        }
                    }
                )
            }
            func ingested(_ id: Int) throws -> Bool {
                try fixture.transactions().flatMap { $0 }.contains { $0.after?["id"] as? Int == id }
            }
            // Other tests' large transactions stream to every slot of the shared database: watch this
            // test's own two by their xids, not the count of staged transactions.
            func staged(_ xid: String) -> Bool {
                FileManager.default.fileExists(
                    atPath: fixture.log.directory.appending(StreamStaging.directoryName).appending(xid).string)
            }
            func begin(_ connection: ReplicationConnection, _ insert: String) async throws -> String {
                let rows = try await connection.simpleQuery("BEGIN; SELECT txid_current() % 4294967296; \(insert)")
                return try #require(rows.first?.first ?? nil, "the transaction's xid")
            }
            func waitFor(_ what: String, _ condition: () async throws -> Bool) async throws {
                for _ in 0..<1200 {
                    if let error = failure.error.withLock({ $0 }) { throw error }
                    if try await condition() { return }
                    try await Task.sleep(for: .milliseconds(50))
                }
                Issue.record("timed out waiting for \(what)")
                throw CancellationError()
            }
            func endWalsender() async throws {
                // After an earlier end, the ingester may still be reconnecting (it backs off 250 ms).
                try await waitFor("the ingester's walsender") { try await fixture.slotIsActive(name) == true }
                let rows = try await fixture.sql(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '\(name)' AND active_pid IS NOT NULL"
                )
                #expect(rows.first?.first == "t", "the ingester's walsender was there to end")
            }
            var (ingester, run) = start()
            var secondXid = ""
            do {
                try await fixture.sql("INSERT INTO \(name) VALUES (1, 'before')")
                try await waitFor("row 1") { try ingested(1) }
                let configuration = fixture.server.configuration(replication: .none)
                try await ReplicationConnection.withConnection(configuration: configuration) { first in
                    try await ReplicationConnection.withConnection(configuration: configuration) { second in
                        let firstXid = try await begin(
                            first, "INSERT INTO \(other) SELECT g, repeat('o', 200) FROM generate_series(1, 3000) g")
                        try await waitFor("the first transaction streamed") { staged(firstXid) }
                        try await endWalsender()  // in the middle of a streamed transaction
                        secondXid = try await begin(
                            second, "INSERT INTO \(other) SELECT g, repeat('s', 200) FROM generate_series(10001, 13000) g")
                        try await waitFor("both transactions streamed") { staged(firstXid) && staged(secondXid) }
                        try await fixture.sql("INSERT INTO \(name) VALUES (2, 'while they run')")
                        _ = try await first.simpleQuery("COMMIT")
                        try await waitFor("the first transaction ended") { !staged(firstXid) }
                        try await waitFor("row 2") { try ingested(2) }
                        // The first one's end lies past the log, and came while the second one is in
                        // flight (no keepalive position is acknowledged, nor recorded, then): a status
                        // update carrying it, within the 100 ms interval, would be unrecorded.
                        try await Task.sleep(for: .milliseconds(500))
                        ingester.stopSignal.stop()
                        let summary = try await run.value
                        #expect(summary.reconnects >= 1, "\(summary)")
                        try await fixture.waitUntilSlotIsFree(name)
                        // A new start checks the slot against the log (row 2 its last) and its source.
                        (ingester, run) = start()
                        try await waitFor("the new ingester streaming") { try await fixture.slotIsActive(name) == true }
                        _ = try await second.simpleQuery("COMMIT")
                    }
                }
                // Row 3 commits after the second one: once it is in, so is that commit.
                try await fixture.sql("INSERT INTO \(name) VALUES (3, 'after both')")
                try await waitFor("row 3") { try ingested(3) }
                #expect(!staged(secondXid), "the second transaction ended with its commit")
                try await endWalsender()
                try await fixture.sql("INSERT INTO \(name) VALUES (4, 'after the last reconnect')")
                try await waitFor("row 4") { try ingested(4) }
            } catch {
                ingester.stopSignal.stop()
                _ = try? await run.value
                throw error
            }
            ingester.stopSignal.stop()
            let summary = try await run.value
            #expect(summary.reconnects >= 1, "\(summary)")
            try await fixture.waitUntilSlotIsFree(name)
            try await fixture.ingest(Self.smallDecodingMemory)
            let ids = try fixture.transactions().flatMap { $0 }.filter { $0.op == "c" }.compactMap { $0.after?["id"] as? Int }
            #expect(ids == [1, 2, 3, 4])
        }
    }

    /// `streamingDecodingMemoryKB` sets the walsender's
    /// `logical_decoding_work_mem` for the session: at 64 kB a 600 kB
    /// transaction comes streamed; nil keeps the server's 64 MB, and it comes
    /// whole after its commit; a `logical_decoding_work_mem` runtime parameter
    /// of the connection wins over the option.
    @Test func theDecodingMemoryOptionDecidesWhatComesStreamed() async throws {
        let name = "stream_memory"
        try await IngestFixture.run(
            name, tables: [name], setup: "CREATE TABLE \(name) (id int PRIMARY KEY, note text)"
        ) { fixture in
            var next = 0
            func streamed(_ configure: (inout PostgresIngestOptions) -> Void) async throws -> Int64 {
                try await fixture.sql(
                    "INSERT INTO \(name) SELECT g, repeat('m', 200) FROM generate_series(\(next + 1), \(next + 3000)) g")
                next += 3000
                return try await fixture.ingest {
                    $0.streaming = true
                    configure(&$0)
                }.streamedTransactions
            }
            #expect(try await streamed { $0.streamingDecodingMemoryKB = 64 } == 1)
            #expect(try await streamed { $0.streamingDecodingMemoryKB = nil } == 0)
            #expect(
                try await streamed {
                    $0.streamingDecodingMemoryKB = 1 << 20
                    $0.connection.runtimeParameters[PostgresIngestOptions.decodingMemoryParameter] = "64kB"
                } == 1)
            let ids = try fixture.transactions().flatMap { $0 }.compactMap { $0.after?["id"] as? Int }
            #expect(ids == Array(1...9000), "each transaction whole, once, in order")
        }
    }

    /// A large transaction of a table outside the publication streams to the
    /// slot as Stream Start, Stop and Commit with nothing for the log. It is
    /// not one of the log's transactions: its end must be acknowledged as a
    /// keepalive's position is (recorded in the source first), never as the
    /// end of a durable transaction, or the next start takes the slot for one
    /// somebody else moved (seen when another test's transaction was the last
    /// before the target of --until-caught-up).
    @Test func aStreamedTransactionWithNothingForTheLogEndsNoTransaction() throws {
        try Self.withDecoder { (decoder: inout StreamDecoder, staging, writer, log) throws in
            #expect(try decoder.handle(.streamStart(.init(xid: 900, isFirstSegment: true)), at: LSN(0x10)) == nil)
            #expect(decoder.isInStreamBlock)
            #expect(try decoder.handle(.streamStop, at: LSN(0x20)) == nil)
            #expect(!staging.isEmpty, "a streamed transaction is in flight until its commit")
            let commit = PgOutputMessage.Commit(
                flags: 0, commitLSN: LSN(0x30), endLSN: LSN(0x38), commitTimestamp: .init(rawValue: 1))
            #expect(try decoder.handle(.streamCommit(.init(xid: 900, commit: commit)), at: LSN(0x30)) == nil)
            #expect(staging.isEmpty && log.nextOffset == 0 && writer.streamedTransactions == 0)
        }
    }

    /// A streamed change too large for a record stops the ingester with
    /// `changeTooLarge` when it arrives, as any other transaction's: nothing staged, nothing in the log.
    @Test func aStreamedChangeTooLargeForARecordIsRefusedWhenItArrives() throws {
        try Self.withDecoder { (decoder: inout StreamDecoder, staging, _, log) throws in
            _ = try decoder.handle(.streamStart(.init(xid: 901, isFirstSegment: true)), at: LSN(0x10))
            let content = [UInt8](repeating: UInt8(ascii: "x"), count: Log.maxBatchBytes)
            let message = PgOutputMessage.message(.init(flags: 1, lsn: LSN(0x18), prefix: "big", content: content[...]))
            let error = #expect(throws: IngestError.self) { try decoder.handle(message, at: LSN(0x18), streamXid: 901) }
            #expect(error?.code == .changeTooLarge)
            #expect(staging.recordCount(901) == 0 && log.nextOffset == 0)
        }
    }

    /// A decoder with staging over a fresh log, as a streaming session has.
    static func withDecoder(_ body: (inout StreamDecoder, StreamStaging, TransactionWriter, Log) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logd-stream-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let log = try Log.open(directory: FilePath(directory.path))
        defer { try? log.close() }
        let writer = TransactionWriter(log: log, checkpoint: nil, maxPendingRecords: 1024, maxPendingBytes: 1 << 20, slot: "s")
        let staging = try StreamStaging(logDirectory: log.directory)
        defer { staging.close() }
        var decoder = StreamDecoder(writer: writer, logger: .init(label: "test"), tombstones: true, staging: staging)
        try body(&decoder, staging, writer, log)
        try log.close()
        #expect(try Log.verify(directory: log.directory).isClean)
    }

    static func unnumbered(_ record: StoredRecord) -> StoredRecord {
        var record = record
        record.headers.removeAll { $0.key == CDCHeader.transactionSequence }
        return record
    }

    static func isOtherTestsMessage(_ record: StoredRecord, _ name: String) -> Bool {
        let header = { (key: String) in record.headers.first { $0.key == key }?.value.map { String(decoding: $0, as: UTF8.self) }
        }
        return header(CDCHeader.operation) == "m" && header(CDCHeader.messagePrefix) != name
    }

    static func describe(_ record: StoredRecord) -> String {
        let headers = record.headers.map { "\($0.key)=\($0.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")" }
        return
            "  key \(record.key.map { String(decoding: $0, as: UTF8.self) } ?? "null") time \(record.timestamp) headers \(headers)\n  "
            + (record.value.map { String(decoding: $0, as: UTF8.self) } ?? "null")
    }
}

/// The error a background ingester run stopped with, for a test to see at once.
private final class RunFailure: Sendable {
    let error = Mutex<(any Error)?>(nil)
}
