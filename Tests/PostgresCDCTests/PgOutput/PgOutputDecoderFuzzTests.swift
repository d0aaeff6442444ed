import LogStore
import Testing

@testable import PostgresCDC

/// Malformed input must throw, never trap: every cut of every sample message
/// and many seeded random corruptions.
@Suite struct PgOutputDecoderFuzzTests {
    @Test(arguments: SampleMessages.all.map(\.name))
    func everyProperPrefixThrows(name: String) throws {
        let bytes = try #require(SampleMessages.all.first { $0.name == name }).bytes
        _ = try PgOutputDecoder.decode(bytes)
        for cut in 0..<bytes.count {
            #expect(throws: PgOutputDecodingError.self, "\(name) cut at \(cut)") {
                try PgOutputDecoder.decode(Array(bytes[..<cut]))
            }
        }
    }

    @Test(arguments: SampleMessages.all.map(\.name))
    func everyExtensionByOneByteThrows(name: String) throws {
        let bytes = try #require(SampleMessages.all.first { $0.name == name }).bytes
        for extra in [UInt8(0), 0xFF, UInt8(ascii: "N")] {
            let error = #expect(throws: PgOutputDecodingError.self) { try PgOutputDecoder.decode(bytes + [extra]) }
            #expect(error?.position ?? 0 >= 1)
        }
    }

    @Test func randomByteFlipsNeverCrash() {
        var random = SeededGenerator(seed: 0x5EED_CDC)
        var failures = 0
        var successes = 0
        for (_, original) in SampleMessages.all {
            for _ in 0..<4_000 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...3, using: &random) {
                    let position = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<4, using: &random) {
                    case 0: bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                    case 1: bytes[position] = UInt8.random(in: 0...255, using: &random)
                    case 2: bytes[position] = [0x00, 0xFF, 0x7F, 0x80].randomElement(using: &random) ?? 0
                    default: bytes.insert(UInt8.random(in: 0...255, using: &random), at: position)
                    }
                }
                do {
                    _ = try PgOutputDecoder.decode(bytes)
                    successes += 1
                } catch {
                    failures += 1
                    #expect(error.position >= 0 && error.position <= bytes.count)
                }
            }
        }
        #expect(failures > 0)
        #expect(successes > 0)
    }

    @Test func randomGarbageNeverCrashes() {
        var random = SeededGenerator(seed: 7)
        let tags = Array("BCORYIUDTMSAZ".utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<64, using: &random)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if !bytes.isEmpty { bytes[0] = tags.randomElement(using: &random) ?? 0 }
            _ = try? PgOutputDecoder.decode(bytes)
        }
    }
}
