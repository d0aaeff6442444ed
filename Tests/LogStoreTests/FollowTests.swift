import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// Runs `body` in a task and waits for it at most `seconds`; a timeout is a
/// failure (and cancels the task), never a hang.
func withTimeout<T: Sendable>(
    seconds: Double, sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping @Sendable () async throws -> T
) async throws -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        if first == nil { Issue.record("timed out after \(seconds) s", sourceLocation: sourceLocation) }
        return first
    }
}

/// Collects `count` records from `follow(from:)` (or fewer, if the sequence ends).
func follow(_ log: Log, from offset: Int64, count: Int) async throws -> [StoredRecord] {
    var records: [StoredRecord] = []
    for try await record in log.follow(from: offset) {
        records.append(record)
        if records.count == count { break }
    }
    return records
}

@Suite struct FollowTests {
    @Test(arguments: [SyncPolicy.never, .always, .interval(milliseconds: 1000)])
    func aFollowerReceivesRecordsAppendedLater(policy: SyncPolicy) async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 2048, syncPolicy: policy))
        try await log.append([Record("before 0"), Record("before 1")])
        let follower = Task { try await follow(log, from: 1, count: 41) }
        // Give the follower time to reach the end and wait there.
        try await Task.sleep(for: .milliseconds(50))
        for number in 0..<40 {
            try await log.append(Record("later \(number)"))
            if number % 10 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        let records = try await withTimeout(seconds: 10) { try await follower.value }
        follower.cancel()
        let received = try #require(records)
        #expect(received.map(\.offset) == Array(1...41))
        #expect(received.first?.value == Array("before 1".utf8))
        #expect(received.last?.value == Array("later 39".utf8))
        try log.close()
    }

    /// Under `.never` appends sit in the write buffer; a follower must not
    /// wait for a flush that nobody asks for.
    @Test func bufferedAppendsBecomeVisibleToAFollower() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try await log.append([Record("a"), Record("b"), Record("c")])  // buffered, never flushed
        let early = try await withTimeout(seconds: 10) { try await follow(log, from: 0, count: 3) }
        #expect(early?.map(\.offset) == [0, 1, 2])
        let follower = Task { try await follow(log, from: 3, count: 1) }
        try await Task.sleep(for: .milliseconds(50))
        try await log.append(Record("d"))  // the follower is already waiting
        let late = try await withTimeout(seconds: 10) { try await follower.value }
        #expect(late?.map(\.value) == [Array("d".utf8)])
        try log.close()
    }

    @Test func iterationEndsWhenTheLogCloses() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try await log.append(Record("only"))
        let follower = Task { try await follow(log, from: 0, count: 100) }
        try await Task.sleep(for: .milliseconds(50))
        try log.close()
        let records = try await withTimeout(seconds: 10) { try await follower.value }
        #expect(records?.map(\.offset) == [0])
    }

    @Test func iterationEndsWhenTheTaskIsCancelled() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try await log.append(Record("only"))
        let follower = Task { try await follow(log, from: 0, count: 100) }
        try await Task.sleep(for: .milliseconds(50))
        follower.cancel()
        let records = try await withTimeout(seconds: 10) { try await follower.value }
        #expect(records?.map(\.offset) == [0])
        // Cancelled before it starts: ends at once.
        let cancelled = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await follow(log, from: 1, count: 1)
        }
        let none = try await withTimeout(seconds: 10) { try await cancelled.value }
        #expect(none?.isEmpty == true)
        try log.close()
    }

    @Test func manyFollowersAcrossSegmentRolls() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 1024, syncPolicy: .never))
        for number in 0..<4 { try await log.append(Record("r\(number)")) }
        let followers = (0..<4).map { number in Task { try await follow(log, from: Int64(number), count: 300 - number) } }
        try await Task.sleep(for: .milliseconds(20))
        for number in 4..<300 { try await log.append(Record("r\(number)")) }
        for (number, follower) in followers.enumerated() {
            let records = try await withTimeout(seconds: 10) { try await follower.value }
            #expect(records?.map(\.offset) == Array(Int64(number)..<300))
            #expect(records?.allSatisfy { $0.value == Array("r\($0.offset)".utf8) } == true)
        }
        #expect(try log.segments().count > 3)
        try log.close()
    }

    @Test func aFollowerBelowRetentionGetsOutOfRange() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 1024, syncPolicy: .never))
        for number in 0..<200 { try await log.append(Record("r\(number)")) }
        try log.deleteSegments(below: 100)
        #expect(log.lowestOffset > 0)
        do {
            _ = try await follow(log, from: 0, count: 1)
            Issue.record("expected offsetOutOfRange")
        } catch let error as LogStoreError {
            #expect(error.code == .offsetOutOfRange)
        }
        try log.close()
    }
}
