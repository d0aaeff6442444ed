import Testing

@testable import LogStore

/// The compaction key map: MurmurHash3 x64 128 of the key, latest offset per
/// hash, a fixed number of keys.
@Suite struct KeyOffsetMapTests {
    @Test(arguments: [
        ("", UInt64(0), UInt64(0)),
        ("hello", UInt64(0xcbd8_a7b3_41bd_9b02), UInt64(0x5b1e_906a_48ae_1d19)),
        ("The quick brown fox jumps over the lazy dog", UInt64(0xe34b_bc7b_bc07_1b6c), UInt64(0x7a43_3ca9_c49a_9347)),
    ])
    func hashMatchesMurmurHash3(text: String, low: UInt64, high: UInt64) {
        let hash = Array(text.utf8).withUnsafeBytes { KeyHash($0) }
        #expect(hash == KeyHash(low: low, high: high))
    }

    @Test func keepsTheLatestOffsetAndRefusesNewKeysWhenFull() {
        let map = KeyOffsetMap(capacity: 100)
        func hash(_ key: String) -> KeyHash { Array(key.utf8).withUnsafeBytes { KeyHash($0) } }
        for round in 0..<3 {
            for key in 0..<100 {
                let expected: KeyOffsetMap.PutResult = round == 0 ? .added : .replaced(previous: Int64((round - 1) * 1000 + key))
                #expect(map.put(hash("k\(key)"), offset: Int64(round * 1000 + key)) == expected)
            }
        }
        #expect(map.count == 100)
        #expect(map.put(hash("one too many"), offset: 5) == .full)
        #expect(map.put(hash("k7"), offset: 9999) == .replaced(previous: 2007), "an existing key still updates when full")
        #expect(map.offset(for: hash("k7")) == 9999 && map.offset(for: hash("k8")) == 2008)
        #expect(map.offset(for: hash("one too many")) == nil)
        map.clear()
        #expect(map.count == 0 && map.offset(for: hash("k8")) == nil)
        #expect(map.bytes <= 100 * 32 + 24)
    }
}
