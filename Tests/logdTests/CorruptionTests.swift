import Foundation
import Testing

/// A byte flipped in a closed log's `.store`: `logd verify` fails naming the
/// file, offset and position; `logd read` fails loudly instead of printing
/// damaged data, and the undamaged segments stay readable.
@Suite("logd on damaged data")
struct CorruptionTests {
    /// Where to flip: a segment (by number), a batch in it, and a byte of the batch.
    struct Flip: Sendable, CustomTestStringConvertible {
        var segment: Int
        var batch: Int
        /// Byte within the batch; negative counts from its end (-1: the last byte).
        var byte: Int
        var what: String

        var testDescription: String { "segment \(segment) batch \(batch) byte \(byte) (\(what))" }
    }

    // Bytes 12..<16 (partitionLeaderEpoch) are left out: as in Kafka's
    // format, the CRC-32C does not cover them and no record data lives there.
    static let flips: [Flip] = [
        Flip(segment: 0, batch: 0, byte: 0, what: "base offset, first byte of the file"),
        Flip(segment: 0, batch: 1, byte: 7, what: "base offset, low byte"),
        Flip(segment: 0, batch: 1, byte: 8, what: "batch length, high byte"),
        Flip(segment: 0, batch: 1, byte: 11, what: "batch length, low byte"),
        Flip(segment: 0, batch: 1, byte: 16, what: "magic"),
        Flip(segment: 0, batch: 1, byte: 18, what: "CRC"),
        Flip(segment: 0, batch: 1, byte: 22, what: "attributes"),
        Flip(segment: 0, batch: 1, byte: 26, what: "last offset delta"),
        Flip(segment: 0, batch: 1, byte: 34, what: "base timestamp"),
        Flip(segment: 0, batch: 1, byte: 60, what: "record count, low byte"),
        Flip(segment: 0, batch: 1, byte: 61, what: "first byte of the record"),
        Flip(segment: 1, batch: 2, byte: 80, what: "record value"),
        Flip(segment: 1, batch: -1, byte: -1, what: "last byte of a sealed store"),
        Flip(segment: -1, batch: 0, byte: 70, what: "value in the active segment of a cleanly closed log"),
    ]

    struct Batch {
        var position: Int
        var size: Int
    }

    /// The batches of a store file, from the big-endian batch length at byte 8 of each.
    static func batches(_ bytes: [UInt8]) -> [Batch] {
        var batches: [Batch] = []
        var position = 0
        while position + 12 <= bytes.count {
            let length = bytes[position + 8..<position + 12].reduce(0) { $0 << 8 | Int($1) }
            batches.append(Batch(position: position, size: length + 12))
            position += length + 12
        }
        return batches
    }

    @Test(arguments: flips)
    func aFlippedByteIsReportedWithFileOffsetAndPosition(flip: Flip) throws {
        let directory = try TestDirectory()
        // One value an append: one record a batch, about 8 batches a segment.
        let values = sampleValues(40, width: 50)
        let append = try Logd.run(directory.args(["append", "damaged", "--segment-bytes", "1024"] + values))
        try #require(append.succeeded, "\(append)")
        let stores = try directory.storeFiles("damaged")
        try #require(stores.count >= 4, "\(stores)")

        let storePath = stores[flip.segment >= 0 ? flip.segment : stores.count + flip.segment]
        let fileName = (storePath as NSString).lastPathComponent
        let baseOffset = try #require(Int(fileName.prefix(20)), "\(fileName)")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: storePath)))
        let batches = Self.batches(bytes)
        try #require(batches.last.map { $0.position + $0.size } == bytes.count, "store \(fileName) is whole batches")
        try #require(batches.count >= 3, "\(fileName) has \(batches.count) batches")
        let batchNumber = flip.batch >= 0 ? flip.batch : batches.count + flip.batch
        let batch = batches[batchNumber]
        let position = batch.position + (flip.byte >= 0 ? flip.byte : batch.size + flip.byte)
        try #require(position < batch.position + batch.size)
        bytes[position] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: storePath))
        // One record a batch: the damaged batch holds this offset.
        let damagedOffset = baseOffset + batchNumber

        let verify = try Logd.run(directory.args("verify", "damaged"))
        #expect(verify.exitCode == 1, "\(verify)")
        let errors = verify.errorLines.filter { $0.hasPrefix("Error:") }
        #expect(errors.count == 1 && verify.errorLines.first == errors.first, "one error line: \(verify)")
        let error = try #require(errors.first, "\(verify)")
        #expect(error.contains(fileName), "names the file: \(verify)")
        #expect(error.contains("offset \(damagedOffset)"), "names the offset \(damagedOffset): \(verify)")
        #expect(error.contains("position \(batch.position)"), "names the batch position \(batch.position): \(verify)")
        #expect(!verify.output.contains(": ok:"), "\(verify)")

        // Reading through the damage fails with the file named, and whatever
        // was printed before is exactly what was written.
        let read = try Logd.run(directory.args("read", "damaged"))
        #expect(read.exitCode == 1, "\(read)")
        #expect(read.errorLines.first?.hasPrefix("Error:") == true, "\(read)")
        #expect(read.errorOutput.contains(fileName), "\(read)")
        #expect(read.lines.count <= damagedOffset && read.lines == Array(values.prefix(read.lines.count)), "\(read)")

        // The records before the damaged batch, and the segments after it,
        // still read. A reader cannot trust the index of a segment whose last
        // batch is damaged, nor the last segment (which it scans, as a writer
        // may be appending to it): then the log may refuse to open for reading
        // at all, but loudly, naming the damage, like a writer's open; never a
        // silently shorter log.
        let mayRefuseWholeLog = storePath == stores.last || batchNumber == batches.count - 1
        func expectExactOrRefused(_ result: LogdResult, _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            if mayRefuseWholeLog && !result.succeeded {
                #expect(result.exitCode == 1 && result.output == "", "\(result)", sourceLocation: sourceLocation)
                let error = result.errorLines.first ?? ""
                #expect(error.hasPrefix("Error:") && error.contains(fileName), "\(result)", sourceLocation: sourceLocation)
                #expect(
                    error.contains("offset \(damagedOffset)") && error.contains("position \(batch.position)"), "\(result)",
                    sourceLocation: sourceLocation)
            } else {
                #expect(result.succeeded, "\(result)", sourceLocation: sourceLocation)
                #expect(result.output == textOutput(expected), "\(result)", sourceLocation: sourceLocation)
            }
        }
        if damagedOffset > 0 {
            let before = try Logd.run(directory.args("read", "damaged", "--count", String(damagedOffset)))
            expectExactOrRefused(before, Array(values.prefix(damagedOffset)))
        }
        let laterStores = stores.drop { $0 != storePath }.dropFirst()
        if let next = laterStores.first, let nextBase = Int((next as NSString).lastPathComponent.prefix(20)) {
            let after = try Logd.run(directory.args("read", "damaged", "--from", String(nextBase)))
            expectExactOrRefused(after, Array(values[nextBase...]))
        }
    }

    @Test func aMissingSealedIndexIsReported() throws {
        let directory = try TestDirectory()
        let values = sampleValues(40, width: 50)
        try #require(try Logd.run(directory.args(["append", "indexless", "--segment-bytes", "1024"] + values)).succeeded)
        let stores = try directory.storeFiles("indexless")
        try #require(stores.count >= 3)
        let index = (stores[1] as NSString).deletingPathExtension + ".index"
        try FileManager.default.removeItem(atPath: index)

        let verify = try Logd.run(directory.args("verify", "indexless"))
        #expect(verify.exitCode == 1, "\(verify)")
        #expect(verify.errorLines.first?.contains((index as NSString).lastPathComponent) == true, "\(verify)")
    }
}
