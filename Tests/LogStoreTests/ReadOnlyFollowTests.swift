import Foundation
import Testing

@testable import LogStore

/// A log opened with `openForReading` (as a reader in another process does)
/// follows what the writer appends: woken by the directory watcher (inotify)
/// on Linux, across segment rolls, and ending when it is closed.
@Suite struct ReadOnlyFollowTests {
    @Test func readOnlyFollowerSeesEveryRecordAcrossRolls() async throws {
        let directory = try TemporaryDirectory()
        let writer = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 2048, syncPolicy: .always))
        try await writer.append(Record("first"))
        let reader = try Log.openForReading(directory: directory.log())
        let values = (0..<120).map { "record-\($0)-" + String(repeating: "x", count: $0 % 50) }
        let follower = Task {
            var seen: [String] = []
            for try await record in reader.follow(from: 0) {
                seen.append(String(decoding: record.value ?? [], as: UTF8.self))
                if seen.count == values.count + 1 { break }
            }
            return seen
        }
        for (number, value) in values.enumerated() {
            try await writer.append(Record(value))
            if number % 10 == 0 { try await Task.sleep(for: .milliseconds(2)) }
        }
        let seen = try await follower.value
        #expect(seen == ["first"] + values)
        #expect(try writer.segments().count > 3, "the writer rolled segments while the reader followed")
        #if os(Linux)
        guard case .watching(let watcher) = reader.directoryWatcher.withLock({ $0 }) else {
            Issue.record("the read-only follower did not start a directory watcher")
            return
        }
        #expect(watcher.generation > 0, "the watcher saw the writer's changes")
        #endif

        // A follower waiting at the end returns nil once the reader closes.
        let waiting = Task { await reader.waitForRecord(at: writer.nextOffset) }
        try await Task.sleep(for: .milliseconds(20))
        try reader.close()
        #expect(await waiting.value == false)
        try writer.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }
}
