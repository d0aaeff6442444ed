import Foundation
import Synchronization
import Testing

@testable import LogStore

/// A value shared between threads under a lock.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// Concurrent appenders under `SyncPolicy.always` (group commit). Durability
/// cannot be observed in-process; distinct offsets and exact reads can.
@Suite struct GroupCommitTests {
    @Test(arguments: [SyncPolicy.always, .never, .interval(milliseconds: 2)])
    func concurrentAppendersGetDistinctOffsets(policy: SyncPolicy) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(
            directory: directory.log(), options: LogOptions(maxSegmentBytes: 8192, syncPolicy: policy, writeBufferBytes: 4096))
        let threads = 16
        let appendsPerThread = 25
        let results = Shared<[(thread: Int, number: Int, offsets: Range<Int64>)]>([])
        let failures = Shared<[String]>([])
        let done = DispatchGroup()
        for thread in 0..<threads {
            done.enter()
            let worker = Thread {
                defer { done.leave() }
                for number in 0..<appendsPerThread {
                    do {
                        // Every fifth append is a batch of three.
                        let count = number % 5 == 0 ? 3 : 1
                        let batch = (0..<count).map { Record("t\(thread) n\(number) r\($0)", key: "t\(thread)") }
                        let offsets = try log.append(batch)
                        results.withLock { $0.append((thread, number, offsets)) }
                    } catch {
                        failures.withLock { $0.append("thread \(thread) append \(number): \(error)") }
                    }
                }
            }
            worker.start()
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(failures.withLock { $0 } == [])
        let all = results.withLock { $0 }
        #expect(all.count == threads * appendsPerThread)
        let total = all.reduce(0) { $0 + $1.offsets.count }
        var owner = [Int?](repeating: nil, count: total)
        for result in all {
            #expect(result.offsets.upperBound <= Int64(total))
            for offset in result.offsets where offset < Int64(total) {
                #expect(owner[Int(offset)] == nil, "offset \(offset) handed out twice")
                owner[Int(offset)] = result.thread
            }
        }
        #expect(owner.allSatisfy { $0 != nil }, "offsets 0..<\(total) all used")
        #expect(log.nextOffset == Int64(total))
        // Each thread's appends got increasing offsets, and every record reads back.
        for thread in 0..<threads {
            let mine = all.filter { $0.thread == thread }.sorted { $0.number < $1.number }
            #expect(zip(mine, mine.dropFirst()).allSatisfy { $0.offsets.upperBound <= $1.offsets.lowerBound })
        }
        for result in all {
            for (index, offset) in result.offsets.enumerated() {
                let stored = try log.read(at: offset)
                #expect(stored.value == Array("t\(result.thread) n\(result.number) r\(index)".utf8))
            }
        }
        try log.close()
        let reopened = try Log.open(directory: directory.log())
        #expect(reopened.nextOffset == Int64(total))
        #expect(try reopened.read(from: 0, maxRecords: Int.max, maxBytes: Int.max).count == total)
        try reopened.close()
    }

    @Test func syncAndFlushMakeAppendsVisibleAndDurable() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try log.append(Record("buffered"))
        try log.sync()
        // A copy taken now (a crash) holds the synced record.
        let image = try DirectoryImage(of: directory.log())
        try image.materialize(at: directory.log("crashed"))
        let recovered = try Log.open(directory: directory.log("crashed"))
        #expect(try recovered.read(at: 0).value == Array("buffered".utf8))
        try recovered.close()
        try log.close()
        expectLogStoreError(.unavailable) { try log.sync() }
        expectLogStoreError(.unavailable) { try log.flush() }
    }
}

@Suite struct AsyncAppendTests {
    /// 64 tasks appending under `.always` share fdatasyncs without blocking
    /// threads: every record gets its own offset and is readable once its
    /// append returns (readers only see durable records).
    @Test func concurrentTasksGetDistinctOffsetsAndReadableRecords() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 8192, syncPolicy: .always))
        let tasks = 64
        let perTask = 20
        let offsets = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for task in 0..<tasks {
                group.addTask {
                    var mine: [Int64] = []
                    for number in 0..<perTask {
                        let offset = try await log.append(Record("t\(task)-\(number)"))
                        // Durable, hence visible, by the time the append returns.
                        #expect(try log.read(at: offset).value == Array("t\(task)-\(number)".utf8))
                        mine.append(offset)
                    }
                    #expect(mine == mine.sorted())
                    return mine
                }
            }
            var all: [Int64] = []
            for try await mine in group { all += mine }
            return all
        }
        #expect(offsets.sorted() == Array(0..<Int64(tasks * perTask)))
        let batch = try await log.append([Record("x"), Record("y")])
        #expect(batch == Int64(tasks * perTask)..<Int64(tasks * perTask + 2))
        try log.close()
        let reopened = try Log.open(directory: directory.log())
        #expect(reopened.nextOffset == Int64(tasks * perTask + 2))
        try reopened.close()
    }

    @Test func asyncAppendAfterCloseThrowsAndPendingOnesFinish() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .always))
        try await log.append(Record("one"))
        try log.close()
        let error = await #expect(throws: LogStoreError.self) { try await log.append(Record("two")) }
        #expect(error?.code == .unavailable)
    }
}
