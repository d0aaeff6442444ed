import Foundation
import KafkaProtocol
import Logging
import SystemPackage
import Testing

@testable import KafkaServer
@testable import LogStore

/// Idempotent producers (KAFKA.md trap 12): a retried batch is stored once and
/// answered with its first offsets, also after a restart; gaps and fenced
/// epochs are refused; producer ids never repeat.
@Suite struct IdempotenceTests {
    let directory: FilePath

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-server-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = FilePath(base.path)
    }

    /// A batch as an idempotent producer sends it: base offset 0, its producer fields, the CRC over them.
    static func batch(_ values: [String], producer: Int64, epoch: Int16 = 0, sequence: Int32) -> [UInt8] {
        let records = values.map { Record($0) }
        let now: Int64 = 1_700_000_000_000
        let size = BatchEncoder.encodedSize(records, now: now)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            let pointer = raw.baseAddress!
            _ = BatchEncoder.encode(records, baseOffset: 0, now: now, size: size, to: pointer)
            pointer.storeBigEndian(producer, at: BatchLayout.producerId)
            pointer.storeBigEndian(epoch, at: BatchLayout.producerEpoch)
            pointer.storeBigEndian(sequence, at: BatchLayout.baseSequence)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[BatchLayout.attributes...]))
            pointer.storeBigEndian(crc, at: BatchLayout.crc)
        }
        return bytes
    }

    static func append(_ batch: [UInt8], _ states: ProducerStates, _ log: Log) throws -> ProducerStates.Outcome {
        try batch.withUnsafeBytes { try states.append($0, to: log, of: TopicPartition(topic: "t", partition: 0)) }
    }

    static func offsets(_ outcome: ProducerStates.Outcome) -> (Range<Int64>, duplicate: Bool) {
        switch outcome {
        case .appended(let receipt): (receipt.offsets, false)
        case .duplicate(let offsets, _): (offsets, true)
        }
    }

    @Test func aRetriedBatchIsStoredOnceAlsoAfterARestartAndGapsAndOldEpochsAreRefused() throws {
        let logger = Logger(label: "test.idempotence")
        let path = directory.appending("t")
        var log = try Log.open(directory: path, options: LogOptions(syncPolicy: .never))
        var states = ProducerStates(logger: logger)
        try log.append(Record("plain"))  // no producer id: never checked
        var sequence: Int32 = 0
        var stored: [Range<Int64>] = []
        for number in 0..<7 {
            let batch = Self.batch(["a\(number)", "b\(number)"], producer: 7, sequence: sequence)
            let first = Self.offsets(try Self.append(batch, states, log))
            let retry = Self.offsets(try Self.append(batch, states, log))
            #expect(!first.duplicate && retry.duplicate)
            #expect(retry.0 == first.0, "a retry is answered with the offsets of the first")
            stored.append(first.0)
            sequence += 2
        }
        #expect(log.nextOffset == 15, "1 + 7 batches of 2, each once")

        let gap = #expect(throws: ProducerStates.Refusal.self) {
            try Self.append(Self.batch(["gap"], producer: 7, sequence: sequence + 1), states, log)
        }
        #expect(gap?.code == .outOfOrderSequenceNumber)
        let tooOld = #expect(throws: ProducerStates.Refusal.self) {
            try Self.append(Self.batch(["a0", "b0"], producer: 7, sequence: 0), states, log)
        }
        #expect(tooOld?.code == .outOfOrderSequenceNumber, "only the last 5 batches are remembered")

        // A restart: the state comes back from the log's tail.
        try log.close()
        log = try Log.open(directory: path, options: LogOptions(syncPolicy: .never))
        states = ProducerStates(logger: logger)
        let retried = Self.offsets(try Self.append(Self.batch(["a6", "b6"], producer: 7, sequence: 12), states, log))
        #expect(retried.duplicate && retried.0 == stored[6])
        let older = Self.offsets(try Self.append(Self.batch(["a2", "b2"], producer: 7, sequence: 4), states, log))
        #expect(older.duplicate && older.0 == stored[2])
        let next = Self.offsets(try Self.append(Self.batch(["c"], producer: 7, sequence: 14), states, log))
        #expect(!next.duplicate && next.0 == 15..<16)

        // A new epoch starts at sequence 0; the old epoch is fenced.
        let badStart = #expect(throws: ProducerStates.Refusal.self) {
            try Self.append(Self.batch(["e"], producer: 7, epoch: 1, sequence: 3), states, log)
        }
        #expect(badStart?.code == .outOfOrderSequenceNumber)
        #expect(!Self.offsets(try Self.append(Self.batch(["e"], producer: 7, epoch: 1, sequence: 0), states, log)).duplicate)
        let fenced = #expect(throws: ProducerStates.Refusal.self) {
            try Self.append(Self.batch(["f"], producer: 7, epoch: 0, sequence: 15), states, log)
        }
        #expect(fenced?.code == .invalidProducerEpoch)
        // Another producer id is another sequence space.
        #expect(!Self.offsets(try Self.append(Self.batch(["o"], producer: 8, sequence: 0), states, log)).duplicate)

        #expect(log.nextOffset == 18)
        try log.flush()  // what the server does before answering: the batches become visible to readers
        let values = try log.read(from: 0, maxRecords: 100).map { String(decoding: $0.value ?? [], as: UTF8.self) }
        #expect(values == ["plain"] + (0..<7).flatMap { ["a\($0)", "b\($0)"] } + ["c", "e", "o"])
        try log.close()
        #expect(try Log.verify(directory: path).isClean)
    }

    @Test func producerIDsNeverRepeatAcrossRestarts() throws {
        let first = ProducerIDs(directory: directory)
        let before = try (0..<3).map { _ in try first.next() }
        #expect(before == [0, 1, 2])
        let afterRestart = ProducerIDs(directory: directory)
        let after = try (0..<1001).map { _ in try afterRestart.next() }
        #expect(after.first == ProducerIDs.blockSize, "a restart skips the rest of the reserved block")
        #expect(Set(after).count == after.count && Set(after).isDisjoint(with: before))
        let third = ProducerIDs(directory: directory)
        #expect(try third.next() == 3 * ProducerIDs.blockSize)
    }
}
