import Foundation
import LogStore
import Testing

@testable import PostgresCDC

/// `JSONString` replaced two escapers (the envelope's `JSONWriter.string` and
/// `logd`'s `OutputBuffer.writeJSONString`); these tests hold it to the bytes
/// each wrote, with the old code kept here as the oracle.
@Suite struct JSONStringTests {
    static func escaped(_ bytes: [UInt8], _ style: JSONString.Style) -> String {
        var output: [UInt8] = []
        bytes.withUnsafeBufferPointer { JSONString.append($0, to: &output, style: style) }
        return String(decoding: output, as: UTF8.self)
    }

    @Test(
        "escapes as the envelope and logd's output always did",
        arguments: [
            (Array("plain é 😀 /".utf8), #""plain é 😀 /""#, #""plain é 😀 /""#),
            (Array("q\"b\\n\nr\rt\t".utf8), #""q\"b\\n\nr\rt\t""#, #""q\"b\\n\nr\rt\t""#),
            ([0x08, 0x0C, 0x00, 0x1F, 0x7F], "\"\\b\\f\\u0000\\u001f\u{7F}\"", "\"\\u0008\\u000c\\u0000\\u001f\u{7F}\""),
            ([0x41, 0xF0, 0x9F, 0x98, 0x42], "\"A\u{FFFD}\u{FFFD}\u{FFFD}B\"", "\"A\u{FFFD}B\""),
            (
                [0xC0, 0x80, 0xED, 0xA0, 0x80], "\"\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\"",
                "\"\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\""
            ),
            ([], #""""#, #""""#),
        ])
    func table(input: [UInt8], envelope: String, commandOutput: String) {
        #expect(Self.escaped(input, .changeEnvelope) == envelope)
        #expect(Self.escaped(input, .commandOutput) == commandOutput)
    }

    @Test("random bytes: byte for byte what the two old escapers wrote")
    func randomBytes() {
        var random = SeededGenerator(seed: 0x4A53_4F4E)
        // Mostly the bytes where UTF-8 validation decides: leads, continuations, controls.
        let interesting: [UInt8] = [
            0x00, 0x08, 0x0C, 0x1F, 0x22, 0x5C, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
            0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF,
        ]
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &random)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &random)
                    ? interesting.randomElement(using: &random) ?? 0 : UInt8.random(in: 0...255, using: &random)
            }
            var envelope: [UInt8] = []
            bytes.withUnsafeBufferPointer { JSONString.append($0, to: &envelope, style: .changeEnvelope) }
            #expect(envelope == OldEscapers.envelope(bytes), "\(bytes)")
            var output: [UInt8] = []
            bytes.withUnsafeBytes { JSONString.append($0, to: &output, style: .commandOutput) }
            #expect(output == OldEscapers.commandOutput(bytes), "\(bytes)")
            #expect(JSONWriter.isValidUTF8(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }

    @Test("eight bytes at a time: a word needs a look exactly when one of its bytes does, at any position")
    func wordsAtATime() {
        func needsLook(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C || byte >= 0x80 }
        for byte in UInt8.min...UInt8.max {
            for position in 0..<8 {
                for filler: UInt8 in [0x20, 0x41, 0x7E, 0x5D, 0x23] {
                    var word = [UInt8](repeating: filler, count: 8)
                    word[position] = byte
                    let value = word.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                    #expect(JSONString.needsLook(value) == needsLook(byte), "byte \(byte) at \(position) among \(filler)")
                }
            }
        }
        // Long runs with a rare byte to escape or check anywhere: the same bytes as the old escapers.
        var random = SeededGenerator(seed: 0x5357_4152)
        let rare: [UInt8] = [0x00, 0x0A, 0x22, 0x5C, 0x1F, 0xC3, 0xA9, 0xFF, 0xE2, 0x82, 0xAC]
        for _ in 0..<5_000 {
            let bytes = (0..<Int.random(in: 0...70, using: &random)).map { _ in
                Int.random(in: 0..<12, using: &random) == 0
                    ? rare.randomElement(using: &random) ?? 0 : UInt8.random(in: 0x20...0x7E, using: &random)
            }
            var output: [UInt8] = []
            bytes.withUnsafeBytes { JSONString.append($0, to: &output, style: .commandOutput) }
            #expect(output == OldEscapers.commandOutput(bytes), "\(bytes)")
            var exact: [UInt8] = [1, 2]
            let valid = bytes.withUnsafeBytes { JSONString.appendIfValid($0, to: &exact, style: .commandOutput) }
            #expect(valid == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
            #expect(exact == (valid ? [1, 2] + output : [1, 2]), "nothing appended for bytes that are not UTF-8")
        }
    }
}

/// The two escapers as they were before `JSONString`.
private enum OldEscapers {
    /// `JSONWriter.string`: `\b`, `\f`; one U+FFFD per ill-formed byte.
    static func envelope(_ utf8: [UInt8]) -> [UInt8] {
        let hex = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = [0x22]
        var index = 0
        while index < utf8.count {
            let byte = utf8[index]
            if byte < 0x80 {
                switch byte {
                case 0x22: bytes += [0x5C, 0x22]
                case 0x5C: bytes += [0x5C, 0x5C]
                case 0x0A: bytes += Array("\\n".utf8)
                case 0x0D: bytes += Array("\\r".utf8)
                case 0x09: bytes += Array("\\t".utf8)
                case 0x08: bytes += Array("\\b".utf8)
                case 0x0C: bytes += Array("\\f".utf8)
                case 0..<0x20: bytes += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: bytes.append(byte)
                }
                index += 1
            } else if let length = validSequenceLength(utf8, at: index) {
                bytes += utf8[index..<index + length]
                index += length
            } else {
                bytes += [0xEF, 0xBF, 0xBD]
                index += 1
            }
        }
        return bytes + [0x22]
    }

    static func validSequenceLength(_ utf8: [UInt8], at index: Int) -> Int? {
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < utf8.count && range.contains(utf8[index + offset])
        }
        switch utf8[index] {
        case 0xC2...0xDF: return continuation(1) ? 2 : nil
        case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : nil
        case 0xE1...0xEC, 0xEE...0xEF: return continuation(1) && continuation(2) ? 3 : nil
        case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : nil
        case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : nil
        case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : nil
        case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : nil
        default: return nil
        }
    }

    /// `OutputBuffer.writeJSONString`: repaired by `String(decoding:)`, `\u0008`, `\u000c`.
    static func commandOutput(_ raw: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x22]
        for unit in String(decoding: raw, as: UTF8.self).utf8 {
            switch unit {
            case 0x22: bytes += [0x5C, 0x22]
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x0A: bytes += [0x5C, UInt8(ascii: "n")]
            case 0x0D: bytes += [0x5C, UInt8(ascii: "r")]
            case 0x09: bytes += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(unit >> 4)], hex[Int(unit & 0xF)]]
            default: bytes.append(unit)
            }
        }
        return bytes + [0x22]
    }
}
