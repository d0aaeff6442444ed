import Foundation
import LogStore
import Synchronization
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// kill -9 against `logd append --sync always` (DESIGN.md durability rules 1-3):
/// the test feeds lines through a pipe, reads the acknowledged offsets, kills
/// the appender at a random moment, and then checks that every acknowledged
/// record is there byte for byte, that nothing but sent records is there, and
/// that appending continues at the right offset.
///
/// Random choices come from one seed, printed at the start; set
/// `LOGD_CRASH_SEED` to replay a run.
@Suite("logd append survives kill -9")
struct CrashTests {
    static let seed = crashTestSeed

    enum Trigger: Sendable {
        /// Kill once this many acknowledgements (at most; random) were read.
        case afterAcknowledgements
        /// Kill after a random delay up to this many microseconds from the
        /// first acknowledgement; one round in four instead at a random moment
        /// between exec and the first acknowledgement (parsing, open, recovery).
        case afterDelay(maxMicroseconds: Int)
    }

    struct Scenario: Sendable, CustomTestStringConvertible {
        var name: String
        var rounds: Int
        var segmentBytes: Int
        var trigger: Trigger
        var linesPerRound: ClosedRange<Int>
        var maxLinesPerWrite: Int
        var maxValueBytes: Int
        /// Mixed into the run's seed so scenarios differ.
        var salt: UInt64
        /// false: the test only reads the crashed log (`logd read`, no repair) and
        /// the next round's appender recovers it itself, so kills also land in
        /// recovery. The last round always reopens in-process.
        var reopenEveryRound = true

        var testDescription: String { name }
    }

    static let scenarios: [Scenario] = [
        Scenario(
            name: "small segments, killed after a random number of acknowledgements", rounds: 18, segmentBytes: 1024,
            trigger: .afterAcknowledgements, linesPerRound: 20...200, maxLinesPerWrite: 6, maxValueBytes: 120, salt: 1),
        Scenario(
            name: "mixed batches, killed after a random delay", rounds: 18, segmentBytes: 4096,
            trigger: .afterDelay(maxMicroseconds: 60_000), linesPerRound: 50...400, maxLinesPerWrite: 40, maxValueBytes: 400, salt: 2),
        Scenario(
            name: "large batches bigger than the pipe, killed after a random delay", rounds: 14, segmentBytes: 64 << 10,
            trigger: .afterDelay(maxMicroseconds: 80_000), linesPerRound: 100...600, maxLinesPerWrite: 300, maxValueBytes: 2000,
            salt: 3),
        Scenario(
            name: "crash after crash, each appender recovering the last one's log", rounds: 12, segmentBytes: 2048,
            trigger: .afterDelay(maxMicroseconds: 40_000), linesPerRound: 20...200, maxLinesPerWrite: 10, maxValueBytes: 200,
            salt: 4, reopenEveryRound: false),
    ]

    /// A record as the test sent it.
    struct SentRecord {
        var key: [UInt8]?
        var value: [UInt8]
        var headers: [RecordHeader]
    }

    /// Shared with the thread that feeds the appender's standard input.
    final class Feed: Sendable {
        let bytesSent = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
    }

    @Test(arguments: scenarios)
    func acknowledgedRecordsSurviveKill9(scenario: Scenario) async throws {
        try await offPool { try acknowledgedRecordsSurviveKill9Blocking(scenario: scenario) }
    }

    func acknowledgedRecordsSurviveKill9Blocking(scenario: Scenario) throws {
        let seed = Self.seed ^ (scenario.salt &* 0x9E37_79B9_7F4A_7C15)
        print("crash test '\(scenario.name)': seed \(seed) (replay with LOGD_CRASH_SEED=\(Self.seed))")
        var random = SeededGenerator(seed: seed)
        let directory = try TestDirectory()
        try FileManager.default.createDirectory(atPath: directory.data, withIntermediateDirectories: true)
        let logPath = FilePath(directory.log("crash"))
        let started = ContinuousClock.now
        var stored: [SentRecord] = []
        var totalAcknowledged = 0
        var totalUnacknowledgedPresent = 0
        var startupMicroseconds = 100_000
        for round in 0..<scenario.rounds {
            let context = "seed \(Self.seed), scenario '\(scenario.name)', round \(round)"
            let outcome = try crashRound(
                round, scenario: scenario, directory: directory, logPath: logPath, stored: &stored, random: &random,
                startupMicroseconds: &startupMicroseconds, reopen: scenario.reopenEveryRound || round == scenario.rounds - 1,
                context: context)
            totalAcknowledged += outcome.acknowledged
            totalUnacknowledgedPresent += outcome.present - outcome.acknowledged
        }

        // The CLI reads back exactly what the test sent, byte for byte
        // (values hold no line feed, so text output is value + "\n" each).
        let read = try Logd.run(directory.args("read", "crash"))
        #expect(read.succeeded, "seed \(Self.seed): \(read.errorOutput)")
        let expected = stored.flatMap { $0.value + [UInt8(ascii: "\n")] }
        #expect(read.stdout == expected, "seed \(Self.seed): `logd read` differs from what was sent")
        let stat = try Logd.run(directory.args("stat", "crash", "--json"))
        #expect(jsonInt(try parseJSONObject(stat.lines.first ?? "")["next_offset"]) == Int64(stored.count), "\(stat)")
        print(
            "crash test '\(scenario.name)': \(scenario.rounds) rounds, \(stored.count) records, \(totalAcknowledged) acknowledged before the kill, \(totalUnacknowledgedPresent) present unacknowledged, \(ContinuousClock.now - started)"
        )
    }

    /// One append process, killed; then the checks. Returns how many records
    /// were acknowledged and how many of the round's records are present.
    func crashRound(
        _ round: Int, scenario: Scenario, directory: TestDirectory, logPath: FilePath, stored: inout [SentRecord],
        random: inout SeededGenerator, startupMicroseconds: inout Int, reopen: Bool, context: String
    ) throws -> (acknowledged: Int, present: Int) {
        let base = stored.count
        let key = "key-\(round)-é"
        let headers = [RecordHeader("round", "\(round)"), RecordHeader("empty", "")]
        let lines = (0..<Int.random(in: scenario.linesPerRound, using: &random)).map { number -> [UInt8] in
            // Any byte but the line feed, so each line is one record.
            var value = Array("r\(round).\(number):".utf8)
            for _ in 0..<Int.random(in: 0...scenario.maxValueBytes, using: &random) {
                let byte = UInt8.random(in: 0...254, using: &random)
                value.append(byte == 0x0A ? 0xFF : byte)
            }
            return value
        }
        // Consecutive slices of lines, each written with one write(2), with short pauses between.
        var chunks: [[UInt8]] = []
        var pauses: [UInt32] = []
        var lineEnds: [Int] = []  // byte count after each line's "\n"
        var total = 0
        var next = 0
        while next < lines.count {
            let count = min(Int.random(in: 1...scenario.maxLinesPerWrite, using: &random), lines.count - next)
            var chunk: [UInt8] = []
            for line in lines[next..<next + count] {
                chunk += line
                chunk.append(UInt8(ascii: "\n"))
                total += line.count + 1
                lineEnds.append(total)
            }
            chunks.append(chunk)
            pauses.append(Bool.random(using: &random) ? 0 : UInt32.random(in: 0...1500, using: &random))
            next += count
        }
        let killAfterAcknowledgements = Int.random(in: 0...lines.count, using: &random)
        let killDuringStartup = Int.random(in: 0..<4, using: &random) == 0
        let delayFraction = Double.random(in: 0...1, using: &random)

        let appender = try Logd.start(
            directory.args(
                "append", "crash", "--sync", "always", "--segment-bytes", String(scenario.segmentBytes), "--key", key,
                "--header", "round=\(round)", "--header", "empty="))
        let launched = ContinuousClock.now
        let feed = Feed()
        let chunksToSend = chunks
        let pausesToTake = pauses
        appender.feedInBackground { descriptor in
            for (chunk, pause) in zip(chunksToSend, pausesToTake) {
                if feed.stop.load(ordering: .relaxed) { return }
                let written = ChildProcess.write(chunk, to: descriptor)
                feed.bytesSent.add(written, ordering: .relaxed)
                guard written == chunk.count else { return }
                if pause > 0 { usleep(pause) }
            }
            // Keep standard input open: the appender must die by the kill, not by end of input.
            while !feed.stop.load(ordering: .relaxed) { usleep(500) }
        }

        switch scenario.trigger {
        case .afterAcknowledgements:
            let reached = appender.stdout.waitForLines(timeout: .seconds(30)) { $0.count >= killAfterAcknowledgements }
            #expect(reached != nil, "\(context): the appender acknowledged \(appender.stdout.completeLines.count) of \(killAfterAcknowledgements) awaited; stderr: \(appender.stderr.text)")
        case .afterDelay(let maxMicroseconds):
            if killDuringStartup {
                usleep(UInt32(delayFraction * Double(startupMicroseconds)))
            } else {
                let first = appender.stdout.waitForLines(timeout: .seconds(30)) { !$0.isEmpty }
                #expect(first != nil, "\(context): no acknowledgement; stderr: \(appender.stderr.text)")
                usleep(UInt32(delayFraction * Double(maxMicroseconds)))
            }
        }
        let exited = appender.hasExited
        let termination = try appender.kill()
        feed.stop.store(true, ordering: .relaxed)
        appender.waitForWriter()
        #expect(!exited && termination == .signaled(SIGKILL), "\(context): the appender ended before the kill (\(termination)); stderr: \(appender.stderr.text)")
        #expect(appender.stdout.waitForEnd(timeout: .seconds(10)), "\(context)")
        if let firstOutput = appender.stdout.firstOutput {
            let (seconds, attoseconds) = (firstOutput - launched).components
            startupMicroseconds = Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
        }

        // The acknowledgements: consecutive offsets from the log's end before the round.
        let acknowledged = appender.stdout.completeLines
        #expect(acknowledged == (base..<base + acknowledged.count).map(String.init), "\(context): acknowledged offsets \(acknowledged.prefix(20))...")
        let bytesSent = feed.bytesSent.load(ordering: .relaxed)
        let linesSent = lineEnds.prefix { $0 <= bytesSent }.count
        #expect(acknowledged.count <= linesSent, "\(context): \(acknowledged.count) acknowledged but only \(linesSent) sent")

        // The crashed log, before any repair: a torn tail is a note, not a failure.
        guard FileManager.default.fileExists(atPath: logPath.string) else {
            // Killed before it created the log: nothing can have been acknowledged.
            #expect(acknowledged.isEmpty && base == 0, "\(context): acknowledged \(acknowledged.count) but there is no log")
            return (0, 0)
        }
        let crashedVerify = try Logd.run(directory.args("verify", "crash"))
        #expect(crashedVerify.succeeded, "\(context): verify right after kill -9: \(crashedVerify)")

        guard reopen else {
            // Read the crashed log as it is (a reader repairs nothing). Values
            // hold no line feed: each output line is one value, byte for byte.
            let read = try Logd.run(directory.args("read", "crash"))
            try #require(read.succeeded, "\(context): read after kill -9: \(read)")
            var values = read.stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
            if values.last == [] { values.removeLast() }
            let present = values.count - base
            #expect(present >= acknowledged.count, "\(context): \(acknowledged.count) acknowledged but only \(present) present")
            #expect(present <= linesSent, "\(context): \(present) records present but only \(linesSent) lines were sent")
            let expected = stored.map(\.value) + lines.prefix(max(0, min(present, linesSent)))
            guard values == expected else {
                let first = zip(values, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(values.count, expected.count)
                throw ChildProcessError(description: "\(context): `logd read` after kill -9 differs from what was sent at offset \(first) (\(values.count) values, \(expected.count) expected)")
            }
            stored += lines.prefix(present).map { SentRecord(key: Array(key.utf8), value: $0, headers: headers) }
            return (acknowledged.count, present)
        }

        // Reopen (recovery), and compare every record with what was sent.
        let log = try Log.open(
            directory: logPath, options: LogOptions(maxSegmentBytes: Int64(scenario.segmentBytes), syncPolicy: .always),
            logger: quietLogger)
        var closed = false
        defer { if !closed { try? log.close() } }
        #expect(log.lowestOffset == 0, "\(context)")
        let present = Int(log.nextOffset) - base
        #expect(present >= acknowledged.count, "\(context): \(acknowledged.count) acknowledged but only \(present) present (next offset \(log.nextOffset))")
        #expect(present <= linesSent, "\(context): \(present) records present but only \(linesSent) lines were sent")
        let sentThisRound = lines.prefix(max(0, min(present, linesSent))).map {
            SentRecord(key: Array(key.utf8), value: $0, headers: headers)
        }
        let expected = stored + sentThisRound
        var offset: Int64 = 0
        var mismatches = 0
        while offset < log.nextOffset && mismatches < 5 {
            let records = try log.read(from: offset, maxRecords: 5000)
            try #require(!records.isEmpty, "\(context): no record at offset \(offset) below next offset \(log.nextOffset)")
            for record in records {
                #expect(record.offset == offset, "\(context)")
                let number = Int(record.offset)
                guard number < expected.count else {
                    Issue.record("\(context): record at offset \(number) was never sent (value \(record.value?.prefix(40) ?? []))")
                    mismatches += 1
                    break
                }
                let want = expected[number]
                let same = record.value == want.value && record.key == want.key && record.headers == want.headers
                if !same {
                    mismatches += 1
                    Issue.record(
                        "\(context): offset \(number) holds key \(record.key.map { String(decoding: $0, as: UTF8.self) } ?? "nil") value \(record.value?.prefix(40) ?? []) headers \(record.headers), sent key \(want.key.map { String(decoding: $0, as: UTF8.self) } ?? "nil") value \(want.value.prefix(40)) headers \(want.headers)"
                    )
                }
                offset += 1
            }
        }
        guard mismatches == 0, present >= acknowledged.count, present <= linesSent else {
            throw ChildProcessError(description: "\(context): the log after kill -9 does not match what was sent; stopping")
        }
        stored = expected

        // Appending continues right after the last record present.
        let marker = Array("after-crash-\(round)".utf8)
        #expect(log.nextOffset == Int64(stored.count), "\(context)")
        let markerOffset = try log.append(Record(value: marker))
        #expect(markerOffset == Int64(stored.count), "\(context): next append went to \(markerOffset)")
        stored.append(SentRecord(key: nil, value: marker, headers: []))
        try log.close()
        closed = true

        // And through the CLI, after a clean close.
        let cliValue = "cli-after-crash-\(round)"
        let append = try Logd.run(directory.args("append", "crash", "--sync", "always", "--key", key, cliValue))
        #expect(append.lines == [String(stored.count)], "\(context): \(append)")
        stored.append(SentRecord(key: Array(key.utf8), value: Array(cliValue.utf8), headers: []))

        let verify = try Logd.run(directory.args("verify", "crash"))
        #expect(verify.succeeded, "\(context): verify after reopen and close: \(verify)")
        #expect(!verify.output.contains("note:"), "\(context): nothing left to repair after a clean close: \(verify)")
        return (acknowledged.count, present)
    }
}
