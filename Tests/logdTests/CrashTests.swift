import AsyncTestSupport
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
            trigger: .afterDelay(maxMicroseconds: 60_000), linesPerRound: 50...400, maxLinesPerWrite: 40, maxValueBytes: 400,
            salt: 2),
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

    /// What one round sends: random lines (any byte but the line feed, so
    /// each line is one record), cut into consecutive writes with pauses, and
    /// when the appender gets killed. Drawn from the seed, so a round replays.
    struct RoundInput {
        var lines: [[UInt8]] = []
        /// Consecutive slices of lines, each written with one write(2).
        var chunks: [[UInt8]] = []
        var pauses: [UInt32] = []
        /// Byte count after each line's line feed.
        var lineEnds: [Int] = []
        var killAfterAcknowledgements: Int
        var killDuringStartup: Bool
        var delayFraction: Double

        init(round: Int, scenario: Scenario, random: inout SeededGenerator) {
            lines = (0..<Int.random(in: scenario.linesPerRound, using: &random)).map { number -> [UInt8] in
                var value = Array("r\(round).\(number):".utf8)
                for _ in 0..<Int.random(in: 0...scenario.maxValueBytes, using: &random) {
                    let byte = UInt8.random(in: 0...254, using: &random)
                    value.append(byte == 0x0A ? 0xFF : byte)
                }
                return value
            }
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
            killAfterAcknowledgements = Int.random(in: 0...lines.count, using: &random)
            killDuringStartup = Int.random(in: 0..<4, using: &random) == 0
            delayFraction = Double.random(in: 0...1, using: &random)
        }

        /// Lines wholly written once `bytesSent` bytes went out.
        func linesSent(bytesSent: Int) -> Int { lineEnds.prefix { $0 <= bytesSent }.count }
    }

    /// One append process, killed; then the checks. Returns how many records
    /// were acknowledged and how many of the round's records are present.
    func crashRound(
        _ round: Int, scenario: Scenario, directory: TestDirectory, logPath: FilePath, stored: inout [SentRecord],
        random: inout SeededGenerator, startupMicroseconds: inout Int, reopen: Bool, context: String
    ) throws -> (acknowledged: Int, present: Int) {
        let input = RoundInput(round: round, scenario: scenario, random: &random)
        let sent = RoundRecords(key: "key-\(round)-é", headers: [RecordHeader("round", "\(round)"), RecordHeader("empty", "")])
        let (acknowledged, linesSent) = try appendUntilKilled(
            input, round: round, scenario: scenario, directory: directory, key: sent.key, base: stored.count,
            startupMicroseconds: &startupMicroseconds, context: context)

        // The crashed log, before any repair: a torn tail is a note, not a failure.
        guard FileManager.default.fileExists(atPath: logPath.string) else {
            // Killed before it created the log: nothing can have been acknowledged.
            #expect(acknowledged.isEmpty && stored.isEmpty, "\(context): acknowledged \(acknowledged.count) but there is no log")
            return (0, 0)
        }
        let crashedVerify = try Logd.run(directory.args("verify", "crash"))
        #expect(crashedVerify.succeeded, "\(context): verify right after kill -9: \(crashedVerify)")
        let present: Int
        if reopen {
            present = try checkReopenedLog(
                input, sent: sent, round: round, scenario: scenario, directory: directory, logPath: logPath, stored: &stored,
                acknowledged: acknowledged.count, linesSent: linesSent, context: context)
        } else {
            present = try checkCrashedLog(
                input, sent: sent, directory: directory, stored: &stored, acknowledged: acknowledged.count, linesSent: linesSent,
                context: context)
        }
        return (acknowledged.count, present)
    }

    /// The key and headers every record of a round is appended with.
    struct RoundRecords {
        var key: String
        var headers: [RecordHeader]

        func records(_ values: ArraySlice<[UInt8]>) -> [SentRecord] {
            values.map { SentRecord(key: Array(key.utf8), value: $0, headers: headers) }
        }
    }

    /// Starts `logd append --sync always`, feeds it the round's writes, kills
    /// it as the scenario says, and checks its acknowledgements.
    /// - Returns: the acknowledged offsets printed, and how many lines were sent whole.
    func appendUntilKilled(
        _ input: RoundInput, round: Int, scenario: Scenario, directory: TestDirectory, key: String, base: Int,
        startupMicroseconds: inout Int, context: String
    ) throws -> (acknowledged: [String], linesSent: Int) {
        let appender = try Logd.start(
            directory.args(
                "append", "crash", "--sync", "always", "--segment-bytes", String(scenario.segmentBytes), "--key", key,
                "--header", "round=\(round)", "--header", "empty="))
        let launched = ContinuousClock.now
        let feed = Feed()
        let chunksToSend = input.chunks
        let pausesToTake = input.pauses
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
            let reached = appender.stdout.waitForLines(timeout: .seconds(30)) { $0.count >= input.killAfterAcknowledgements }
            #expect(
                reached != nil,
                "\(context): the appender acknowledged \(appender.stdout.completeLines.count) of \(input.killAfterAcknowledgements) awaited; stderr: \(appender.stderr.text)"
            )
        case .afterDelay(let maxMicroseconds):
            if input.killDuringStartup {
                usleep(UInt32(input.delayFraction * Double(startupMicroseconds)))
            } else {
                let first = appender.stdout.waitForLines(timeout: .seconds(30)) { !$0.isEmpty }
                #expect(first != nil, "\(context): no acknowledgement; stderr: \(appender.stderr.text)")
                usleep(UInt32(input.delayFraction * Double(maxMicroseconds)))
            }
        }
        let exited = appender.hasExited
        let termination = try appender.kill()
        feed.stop.store(true, ordering: .relaxed)
        appender.waitForWriter()
        #expect(
            !exited && termination == .signaled(SIGKILL),
            "\(context): the appender ended before the kill (\(termination)); stderr: \(appender.stderr.text)")
        #expect(appender.stdout.waitForEnd(timeout: .seconds(10)), "\(context)")
        if let firstOutput = appender.stdout.firstOutput {
            let (seconds, attoseconds) = (firstOutput - launched).components
            startupMicroseconds = Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000)
        }

        // The acknowledgements: consecutive offsets from the log's end before the round.
        let acknowledged = appender.stdout.completeLines
        #expect(
            acknowledged == (base..<base + acknowledged.count).map(String.init),
            "\(context): acknowledged offsets \(acknowledged.prefix(20))...")
        let bytesSent = feed.bytesSent.load(ordering: .relaxed)
        let linesSent = input.linesSent(bytesSent: bytesSent)
        #expect(acknowledged.count <= linesSent, "\(context): \(acknowledged.count) acknowledged but only \(linesSent) sent")
        return (acknowledged, linesSent)
    }

    /// Reads the crashed log as it is (a reader repairs nothing) and checks
    /// it against what was sent. Returns the round's records present.
    func checkCrashedLog(
        _ input: RoundInput, sent: RoundRecords, directory: TestDirectory, stored: inout [SentRecord], acknowledged: Int,
        linesSent: Int, context: String
    ) throws -> Int {
        // Read the crashed log as it is (a reader repairs nothing). Values
        // hold no line feed: each output line is one value, byte for byte.
        let read = try Logd.run(directory.args("read", "crash"))
        try #require(read.succeeded, "\(context): read after kill -9: \(read)")
        var values = read.stdout.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        if values.last == [] { values.removeLast() }
        let present = values.count - stored.count
        #expect(present >= acknowledged, "\(context): \(acknowledged) acknowledged but only \(present) present")
        #expect(present <= linesSent, "\(context): \(present) records present but only \(linesSent) lines were sent")
        let expected = stored.map(\.value) + input.lines.prefix(max(0, min(present, linesSent)))
        guard values == expected else {
            let first =
                zip(values, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(values.count, expected.count)
            throw ChildProcessError(
                description:
                    "\(context): `logd read` after kill -9 differs from what was sent at offset \(first) (\(values.count) values, \(expected.count) expected)"
            )
        }
        stored += sent.records(input.lines.prefix(present))
        return present
    }

    /// Reopens the crashed log (recovery), compares every record with what
    /// was sent, appends after it in-process and through the CLI, and
    /// verifies. Returns the round's records present.
    func checkReopenedLog(
        _ input: RoundInput, sent: RoundRecords, round: Int, scenario: Scenario, directory: TestDirectory, logPath: FilePath,
        stored: inout [SentRecord], acknowledged: Int, linesSent: Int, context: String
    ) throws -> Int {
        // Reopen (recovery), and compare every record with what was sent.
        let log = try Log.open(
            directory: logPath, options: LogOptions(maxSegmentBytes: Int64(scenario.segmentBytes), syncPolicy: .always),
            logger: quietLogger)
        var closed = false
        defer { if !closed { try? log.close() } }
        #expect(log.lowestOffset == 0, "\(context)")
        let present = Int(log.nextOffset) - stored.count
        #expect(
            present >= acknowledged,
            "\(context): \(acknowledged) acknowledged but only \(present) present (next offset \(log.nextOffset))")
        #expect(present <= linesSent, "\(context): \(present) records present but only \(linesSent) lines were sent")
        let sentThisRound = sent.records(input.lines.prefix(max(0, min(present, linesSent))))
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
                    Issue.record(
                        "\(context): record at offset \(number) was never sent (value \(record.value?.prefix(40) ?? []))")
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
        guard mismatches == 0, present >= acknowledged, present <= linesSent else {
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
        let append = try Logd.run(directory.args("append", "crash", "--sync", "always", "--key", sent.key, cliValue))
        #expect(append.lines == [String(stored.count)], "\(context): \(append)")
        stored.append(SentRecord(key: Array(sent.key.utf8), value: Array(cliValue.utf8), headers: []))

        let verify = try Logd.run(directory.args("verify", "crash"))
        #expect(verify.succeeded, "\(context): verify after reopen and close: \(verify)")
        #expect(!verify.output.contains("note:"), "\(context): nothing left to repair after a clean close: \(verify)")
        return present
    }
}
