import Testing

@testable import LogStore

private func encode(_ value: Int64) -> [UInt8] {
    var bytes = [UInt8](repeating: 0xAA, count: 16)
    var index = 0
    bytes.withUnsafeMutableBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        Varint.write(value, to: base, at: &index)
    }
    return Array(bytes[0..<index])
}

private func decode(_ bytes: [UInt8]) -> (value: Int64?, consumed: Int) {
    var index = 0
    let value = bytes.withUnsafeBytes { Varint.read($0, at: &index) }
    return (value, index)
}

@Suite struct VarintTests {
    /// Value, encoded size (zig-zag: small magnitudes of either sign are short).
    static let edgeCases: [(Int64, Int)] = [
        (0, 1), (-1, 1), (1, 1), (63, 1), (-64, 1), (64, 2), (-65, 2), (8191, 2), (-8192, 2), (8192, 3),
        (Int64(Int32.max), 5), (Int64(Int32.min), 5), (Int64.max, 10), (Int64.min, 10),
        (Int64.max - 1, 10), (Int64.min + 1, 10), (1 << 62, 10), (-(1 << 62), 9), ((1 << 62) - 1, 9),
    ]

    @Test(arguments: edgeCases)
    func roundTripsEdgeValues(value: Int64, size: Int) {
        let bytes = encode(value)
        #expect(bytes.count == size)
        #expect(Varint.size(value) == size)
        let decoded = decode(bytes)
        #expect(decoded.value == value)
        #expect(decoded.consumed == size)
    }

    /// The wire bytes match protobuf's sint64 / Kafka's varlong.
    static let wireCases: [(Int64, [UInt8])] = [
        (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (63, [0x7E]), (-64, [0x7F]),
        (64, [0x80, 0x01]), (-65, [0x81, 0x01]), (150, [0xAC, 0x02]),
        (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    ]

    @Test(arguments: wireCases)
    func wireBytes(value: Int64, expected: [UInt8]) {
        #expect(encode(value) == expected)
    }

    @Test func roundTripsRandomValuesBackToBack() {
        var generator = SeededGenerator(seed: 0x5EED)
        let values: [Int64] = (0..<2000).map { _ in
            let bits = Int.random(in: 0...63, using: &generator)
            let magnitude = Int64.random(in: 0...Int64.max, using: &generator) >> bits
            return Bool.random(using: &generator) ? magnitude : ~magnitude
        }
        var bytes: [UInt8] = []
        for value in values { bytes += encode(value) }
        #expect(bytes.count == values.reduce(0) { $0 + Varint.size($1) })
        var index = 0
        bytes.withUnsafeBytes { buffer in
            for value in values {
                #expect(Varint.read(buffer, at: &index) == value)
            }
        }
        #expect(index == bytes.count)
    }

    @Test func truncatedEncodingsReturnNil() {
        #expect(decode([]).value == nil)
        #expect(decode([0x80]).value == nil)
        #expect(decode([0xFF, 0xFF, 0xFF]).value == nil)
        // Every proper prefix of a multi-byte encoding is incomplete.
        let full = encode(Int64.min)
        for length in 0..<full.count {
            #expect(decode(Array(full[0..<length])).value == nil, "prefix of \(length) bytes")
        }
    }

    @Test func encodingsLongerThanTenBytesReturnNil() {
        #expect(decode([UInt8](repeating: 0x80, count: 10) + [0x00]).value == nil)
        #expect(decode([UInt8](repeating: 0xFF, count: 11) + [0x01]).value == nil)
        #expect(decode([UInt8](repeating: 0x80, count: 64)).value == nil)
        // Ten bytes is the longest legal encoding.
        #expect(decode([UInt8](repeating: 0x80, count: 9) + [0x00]).value == 0)
    }

    @Test func readsAtAnIndexAndAdvancesPastOneValueOnly() {
        let bytes: [UInt8] = [0xAA] + encode(-65) + encode(300)
        var index = 1
        bytes.withUnsafeBytes { buffer in
            #expect(Varint.read(buffer, at: &index) == -65)
            #expect(index == 3)
            #expect(Varint.read(buffer, at: &index) == 300)
            #expect(index == bytes.count)
            #expect(Varint.read(buffer, at: &index) == nil)
        }
    }
}
