import Foundation
import Testing

/// `logd repair` on a log a bad disk damaged in the middle: `verify` points to
/// it, `--dry-run` shows the plan and changes nothing, the repair moves the
/// damage into a quarantine file and the log reads again.
@Suite("logd repair")
struct RepairCLITests {
    /// The bytes of every file of the log `name`, by file name.
    static func files(_ directory: TestDirectory, _ name: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.log(name)) {
            files[file] = try Data(contentsOf: URL(fileURLWithPath: directory.log(name) + "/" + file))
        }
        return files
    }

    @Test func aDamagedSegmentIsMovedAsideAndTheLogReadsAgain() throws {
        let directory = try TestDirectory()
        // One record a batch (a value an append), 8 batches a segment of 1 KiB.
        let values = sampleValues(36, prefix: "event", width: 50)
        try #require(try Logd.run(directory.args(["append", "damaged", "--segment-bytes", "1024"] + values)).succeeded)
        let stores = try directory.storeFiles("damaged")
        try #require(stores.count >= 4, "\(stores)")

        // A record value in the third batch of the second segment.
        let storePath = stores[1]
        let storeName = (storePath as NSString).lastPathComponent
        let nextName = (stores[2] as NSString).lastPathComponent
        let base = try #require(Int(storeName.prefix(20)))
        let nextBase = try #require(Int(nextName.prefix(20)))
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: storePath)))
        let batches = CorruptionTests.batches(bytes)
        try #require(batches.count >= 4)
        bytes[batches[2].position + 80] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: storePath))
        let lost = base + 2
        let quarantineName = storeName.prefix(20) + ".damaged-\(lost)"

        let verify = try Logd.run(directory.args("verify", "damaged"))
        #expect(verify.exitCode == 1, "\(verify)")
        #expect(verify.output.contains("logd repair damaged --dir \(directory.data) --dry-run"), "\(verify)")

        let before = try Self.files(directory, "damaged")
        let dryRun = try Logd.run(directory.args("repair", "damaged", "--dry-run"))
        #expect(dryRun.succeeded, "\(dryRun)")
        #expect(
            dryRun.output.contains("\(storeName): damaged batch at position \(batches[2].position), offset \(lost)"), "\(dryRun)")
        #expect(
            dryRun.output.contains("would move: \(bytes.count - batches[2].position) bytes to \(quarantineName)"), "\(dryRun)")
        #expect(dryRun.output.contains("dry run: nothing changed"), "\(dryRun)")
        #expect(try Self.files(directory, "damaged") == before, "a dry run changes nothing")

        let repair = try Logd.run(directory.args("repair", "damaged"))
        #expect(repair.succeeded, "\(repair)")
        #expect(repair.output.contains("kept: offsets \(base) to \(lost - 1): 2 batches, 2 records"), "\(repair)")
        #expect(repair.output.contains("moved: \(bytes.count - batches[2].position) bytes to \(quarantineName)"), "\(repair)")
        #expect(repair.output.contains("lost: offsets \(lost) to \(nextBase - 1)"), "\(repair)")
        #expect(repair.output.contains("recognisable in the moved bytes: offsets \(lost + 1) to \(nextBase - 1)"), "\(repair)")
        let quarantine = try Data(contentsOf: URL(fileURLWithPath: directory.log("damaged") + "/" + quarantineName))
        #expect([UInt8](quarantine) == Array(bytes[batches[2].position...]), "the quarantine file keeps the moved bytes")

        try directory.expectVerifies("damaged")
        let read = try Logd.run(directory.args("read", "damaged"))
        #expect(read.succeeded, "\(read)")
        #expect(read.output == textOutput(Array(values[..<lost] + values[nextBase...])), "\(read)")

        // The quarantine file makes no other log, and the log stays one.
        let list = try Logd.run(directory.args("list"))
        #expect(list.succeeded && list.lines == ["damaged"], "\(list)")
        let again = try Logd.run(directory.args("repair", "damaged"))
        #expect(again.succeeded && again.output.contains("damaged: nothing to repair"), "\(again)")
        try directory.expectVerifies("damaged")
    }

    @Test func aMissingLogIsAClearError() throws {
        let directory = try TestDirectory()
        let repair = try Logd.run(directory.args("repair", "missing"))
        #expect(repair.exitCode == 1, "\(repair)")
        #expect(repair.errorLines.first?.hasPrefix("Error: no log named 'missing'") == true, "\(repair)")
        #expect(repair.output.isEmpty, "\(repair)")
    }

    @Test func aLogOpenInAnotherProcessIsRefused() throws {
        let directory = try TestDirectory()
        let appender = try Logd.start(directory.args("append", "busy", "--sync", "always"))
        #expect(appender.write(Array("first\n".utf8)) > 0)
        let appended = appender.stdout.waitForLines(timeout: .seconds(30)) { $0.contains("0") }
        try #require(appended != nil, "the appender did not append: \(appender.stderr.text)")

        let repair = try Logd.run(directory.args("repair", "busy"))
        #expect(repair.exitCode == 1, "\(repair)")
        #expect(repair.errorOutput.contains("open in another process"), "\(repair)")
        appender.closeInput()
        #expect(try appender.wait(timeout: .seconds(30)) == .exited(0))
        try directory.expectVerifies("busy")
    }
}
