import Foundation
import SystemPackage
import Testing

@testable import LogStore

/// `Log.delete(directory:)`: a closed log goes whole, through a hidden name;
/// an open one is refused and left as it was.
@Suite struct LogDeleteTests {
    static func makeLog(_ path: FilePath) throws -> Log {
        let log = try Log.open(directory: path, options: LogOptions(maxSegmentBytes: 1024, syncPolicy: .never))
        for number in 0..<50 { try log.append([Record("record \(number)", key: "k")]) }
        try log.commitOffset(7, group: "readers")
        return log
    }

    @Test("a closed log is deleted whole, committed offsets included; its neighbours stay")
    func deletesAClosedLog() throws {
        let directory = try TemporaryDirectory()
        let gone = try Self.makeLog(directory.log("gone"))
        try gone.close()
        let kept = try Self.makeLog(directory.log("kept"))
        try kept.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.log("gone").string).count > 3, "segments")
        try Log.delete(directory: directory.log("gone"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path.string) == ["kept"])
        #expect(try Log.verify(directory: directory.log("kept")).isClean)
    }

    @Test(
        "a log with the longest name (249 bytes, multi-byte characters too) takes the longest group name (200) and is deleted: its hidden name stays within 255 bytes"
    )
    func deletesALogWithTheLongestName() throws {
        let directory = try TemporaryDirectory()
        for name in [String(repeating: "t", count: LogNames.maxBytes), String(repeating: "é", count: 124) + "x"] {
            try LogNames.validate(name, what: "log")
            let log = try Self.makeLog(directory.log(name))
            // Group names stop at 200 bytes: with `.offset.tmp` their file names fit 255 bytes.
            try log.commitOffset(3, group: String(repeating: "g", count: LogNames.maxGroupBytes))
            #expect(throws: LogStoreError.self) { try log.commitOffset(3, group: String(repeating: "g", count: 201)) }
            try log.close()
            try Log.delete(directory: directory.log(name))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path.string) == [])
        #expect(throws: LogStoreError.self) { try LogNames.validate(String(repeating: "t", count: 250), what: "log") }
    }

    @Test("an open log is refused (unavailable) and stays whole; a missing one is invalidArgument")
    func refusesAnOpenLog() throws {
        let directory = try TemporaryDirectory()
        let log = try Self.makeLog(directory.log())
        expectLogStoreError(.unavailable) { try Log.delete(directory: directory.log()) }
        #expect(log.nextOffset == 50)
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
        let reopened = try Log.open(directory: directory.log())
        #expect(try reopened.read(from: 0, maxRecords: 100).count == 50)
        try reopened.close()
        expectLogStoreError(.invalidArgument) { try Log.delete(directory: directory.log("missing")) }
    }

    @Test("a deletion a crash interrupted (the hidden directory left behind) is finished by removeDeletedLogs")
    func finishesAnInterruptedDeletion() throws {
        let directory = try TemporaryDirectory()
        try Self.makeLog(directory.log("left")).close()
        try Self.makeLog(directory.log("kept")).close()
        // What a crash right after the rename leaves.
        try FileManager.default.moveItem(
            atPath: directory.log("left").string, toPath: directory.log(Log.deletedPrefix + "left-1").string)
        #expect(try Log.removeDeletedLogs(in: directory.path) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path.string) == ["kept"])
        #expect(try Log.removeDeletedLogs(in: directory.path) == 0)
        #expect(try Log.verify(directory: directory.log("kept")).isClean)
    }
}
