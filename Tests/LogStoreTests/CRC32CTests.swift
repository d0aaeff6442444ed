import Testing

@testable import LogStore

/// The textbook bitwise CRC-32C (reflected polynomial 0x82F63B78), slow and
/// obviously right: the reference the fast paths are checked against.
func referenceCRC32C(_ bytes: some Sequence<UInt8>, extending crc: UInt32 = 0) -> UInt32 {
    var crc = ~crc
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    return ~crc
}

@Suite struct CRC32CTests {
    @Test func checkValueOfTheStandardTestString() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(referenceCRC32C(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// Known answers from RFC 3720 (iSCSI), appendix B.4.
    @Test(arguments: [
        ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
        ([UInt8](repeating: 0xFF, count: 32), UInt32(0x62A8_AB43)),
        ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
        ((0..<32).map { UInt8(31 - $0) }, UInt32(0x113F_DB5C)),
    ])
    func rfc3720Vectors(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
    }

    @Test func emptyInputIsZeroAndLeavesACRCUnchanged() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum(UnsafeRawBufferPointer(start: nil, count: 0)) == 0)
        #expect(CRC32C.checksum(UnsafeRawBufferPointer(start: nil, count: 0), extending: 0xE306_9283) == 0xE306_9283)
    }

    @Test func extendingEqualsTheChecksumOfTheConcatenation() {
        var generator = SeededGenerator(seed: 0xC3C3)
        for _ in 0..<200 {
            let a = generator.bytes(Int.random(in: 0...300, using: &generator))
            let b = generator.bytes(Int.random(in: 0...300, using: &generator))
            let whole = CRC32C.checksum(a + b)
            let extended = b.withUnsafeBytes { CRC32C.checksum($0, extending: CRC32C.checksum(a)) }
            #expect(extended == whole, "a: \(a.count) bytes, b: \(b.count) bytes")
            #expect(whole == referenceCRC32C(b, extending: referenceCRC32C(a)))
        }
    }

    /// The fast path (hardware instruction when the CPU has it, else
    /// slicing-by-8) against the bitwise reference, at every alignment and
    /// with lengths around the 8-byte word loop.
    @Test(arguments: testSeeds([1, 2, 3]))
    func fastPathMatchesTheBitwiseReference(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let pool = generator.bytes(4096 + 64)
        pool.withUnsafeBytes { bytes in
            for round in 0..<400 {
                let start = round < 64 ? round % 16 : Int.random(in: 0..<64, using: &generator)
                let length = round < 64 ? round : Int.random(in: 0...4096, using: &generator)
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
                let seedCRC: UInt32 = round % 3 == 0 ? 0 : UInt32.random(in: 0...UInt32.max, using: &generator)
                #expect(
                    CRC32C.checksum(slice, extending: seedCRC) == referenceCRC32C(slice, extending: seedCRC),
                    "seed \(seed), start \(start), length \(length), hardware \(CRC32C.isHardwareAccelerated)")
            }
        }
    }

    /// Lengths at and around the interleaved paths (three streams of 256 and
    /// of 8,192 bytes, combined by table shifts), at several alignments.
    @Test func interleavedPathsMatchTheBitwiseReference() {
        var generator = SeededGenerator(seed: 4242)
        let pool = generator.bytes(120_000)
        let lengths = [767, 768, 769, 775, 776, 1536, 1543, 24_575, 24_576, 24_577, 24_583, 25_344, 49_152, 49_159, 100_000]
        pool.withUnsafeBytes { bytes in
            for length in lengths {
                for start in [0, 1, 7, 8, 13] {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
                    let seedCRC = UInt32(truncatingIfNeeded: length &* 2_654_435_761)
                    #expect(
                        CRC32C.checksum(slice, extending: seedCRC) == referenceCRC32C(slice, extending: seedCRC),
                        "start \(start), length \(length), hardware \(CRC32C.isHardwareAccelerated)")
                }
            }
        }
    }

    @Test func implementationIsNamedAndAgreesWithTheHardwareFlag() {
        let known = ["avx512-vpclmulqdq", "sse4.2", "armv8", "table"]
        #expect(known.contains(CRC32C.implementation), "\(CRC32C.implementation)")
        #expect((CRC32C.implementation != "table") == CRC32C.isHardwareAccelerated, "\(CRC32C.implementation)")
    }

    /// Every length up to 2,048 bytes at several alignments: across the folding
    /// path's 256-byte threshold, its 256- and 64-byte loops and its tails (on
    /// CPUs without AVX-512 and VPCLMULQDQ, the same lengths of the fallback).
    /// One bitwise pass per alignment gives the reference for every prefix.
    @Test func everyLengthTo2048MatchesTheBitwiseReference() {
        let implementation = CRC32C.implementation
        print("CRC32CTests: implementation \(implementation)")
        var generator = SeededGenerator(seed: 2048)
        let pool = generator.bytes(2048 + 64)
        pool.withUnsafeBytes { bytes in
            for start in [0, 1, 7, 15, 63] {
                let seedCRC = UInt32.random(in: 0...UInt32.max, using: &generator)
                var reference = seedCRC
                for length in 0...2048 {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
                    let context = "\(implementation), start \(start), length \(length)"
                    #expect(CRC32C.checksum(slice, extending: seedCRC) == reference, "\(context)")
                    #expect(CRC32C.portableChecksum(slice, extending: seedCRC) == reference, "table, \(context)")
                    if length < 2048 { reference = referenceCRC32C(CollectionOfOne(pool[start + length]), extending: reference) }
                }
            }
        }
    }

    /// Random lengths up to 1 MiB and random start CRCs against the table path
    /// (itself checked against the bitwise reference above).
    @Test(arguments: testSeeds([5, 6]))
    func longInputsMatchTheTablePath(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let pool = generator.bytes((1 << 20) + 64)
        pool.withUnsafeBytes { bytes in
            for round in 0..<24 {
                let start = Int.random(in: 0..<64, using: &generator)
                let length = round == 0 ? 1 << 20 : Int.random(in: 0...(1 << 20), using: &generator)
                let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + length])
                let seedCRC = UInt32.random(in: 0...UInt32.max, using: &generator)
                #expect(
                    CRC32C.checksum(slice, extending: seedCRC) == CRC32C.portableChecksum(slice, extending: seedCRC),
                    "\(CRC32C.implementation), seed \(seed), start \(start), length \(length)")
            }
        }
    }

    @Test func everySingleBitFlipChangesTheChecksum() {
        var generator = SeededGenerator(seed: 77)
        var bytes = generator.bytes(64)
        let original = CRC32C.checksum(bytes)
        for bit in 0..<(bytes.count * 8) {
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(CRC32C.checksum(bytes) != original, "bit \(bit)")
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
        }
    }
}
