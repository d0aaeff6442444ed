import Foundation
import Testing

/// A small tmpfs mounted for one test, so that "disk full" really happens.
final class SmallFileSystem {
    let path: String

    /// Mounting needs root (CI and these machines run tests as root).
    static let canMount: Bool = {
        guard getuid() == 0, let probe = try? SmallFileSystem(bytes: 64 << 10) else { return false }
        _ = probe
        return true
    }()

    init(bytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("logd-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path]) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw ChildProcessError(description: "mount of a \(bytes)-byte tmpfs at \(path) failed")
        }
    }

    deinit {
        _ = Self.run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func run(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite struct FullDiskTests {
    /// Appending onto a disk that fills up: one clear error naming the file and
    /// the cause, a non-zero exit, and every record stored before it intact.
    @Test(.enabled(if: SmallFileSystem.canMount, "mounting a small tmpfs needs root"))
    func aFullDiskIsAClearErrorAndKeepsWhatWasStored() throws {
        // Room for the 10 MiB preallocated index and about 1.5 MiB of records.
        let disk = try SmallFileSystem(bytes: 12 << 20)
        let data = disk.path + "/data"
        let values = sampleValues(60_000, prefix: "full", width: 60)
        let append = try Logd.run(
            ["append", "full", "--dir", data, "--quiet"], input: Array(values.map { $0 + "\n" }.joined().utf8))
        #expect(append.exitCode == 1, "\(append)")
        #expect(append.errorLines.filter { $0.hasPrefix("Error:") }.count == 1, "\(append)")
        #expect(append.errorLines.last?.contains("No space left on device") == true, "\(append)")

        let read = try Logd.run(["read", "full", "--dir", data])
        #expect(read.succeeded, "\(read)")
        #expect(!read.lines.isEmpty && read.lines.count < values.count, "\(read.lines.count) records read back")
        #expect(read.lines == Array(values.prefix(read.lines.count)), "what was stored is an exact prefix of what was sent")
        let verify = try Logd.run(["verify", "full", "--dir", data])
        #expect(verify.succeeded, "\(verify)")

        // Still full: another append fails the same way and changes nothing.
        let again = try Logd.run(
            ["append", "full", "--dir", data, "--quiet"], input: Array(values.prefix(20_000).map { $0 + "\n" }.joined().utf8))
        #expect(again.exitCode == 1, "\(again)")
        let reread = try Logd.run(["read", "full", "--dir", data])
        #expect(reread.lines.count >= read.lines.count, "\(reread)")
        #expect(
            reread.lines == Array(values.prefix(read.lines.count)) + Array(values.prefix(reread.lines.count - read.lines.count)))
    }

    /// A new log on a disk without room for its index fails before writing anything.
    @Test(.enabled(if: SmallFileSystem.canMount, "mounting a small tmpfs needs root"))
    func noRoomForTheIndexIsAClearError() throws {
        let disk = try SmallFileSystem(bytes: 1 << 20)
        let append = try Logd.run(["append", "tiny", "--dir", disk.path + "/data", "hello"])
        #expect(append.exitCode == 1, "\(append)")
        #expect(append.errorLines.last?.contains("cannot allocate the index") == true, "\(append)")
        #expect(append.errorLines.last?.contains("No space left on device") == true, "\(append)")
    }
}
