/// The offsets of one compaction pass whose key a later record of the pass
/// has, one bit each. The key-map pass marks them (each `put` that replaces
/// a key's offset marks the one replaced), so the clean pass decides these
/// records without hashing their key again or looking it up in the key map,
/// a random access far outside the caches.
///
/// Memory stays bounded: only `[start, start + limit)` is covered, and a
/// record outside it (below the pass, or past the limit) is looked up in
/// the key map instead.
struct SupersededOffsets {
    /// The pass's first offset.
    private(set) var start: Int64
    /// Offsets covered from `start` on.
    let limit: Int64
    private var words: [UInt64] = []

    init(start: Int64, limit: Int) {
        self.start = start
        self.limit = Int64(max(limit, 0))
    }

    /// Empties the set for a pass from `start` on.
    mutating func reset(start: Int64) {
        self.start = start
        words.removeAll(keepingCapacity: true)
    }

    /// Marks `offset` superseded; nothing when it is not covered.
    @inline(__always)
    mutating func insert(_ offset: Int64) {
        let relative = offset &- start
        guard relative >= 0, relative < limit else { return }
        let word = Int(relative >> 6)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: word - words.count + 1)) }
        words[word] |= 1 << UInt64(relative & 63)
    }

    /// Whether a later record of the pass has `offset`'s key; nil when
    /// `offset` is not covered (the caller looks the key up).
    @inline(__always)
    func contains(_ offset: Int64) -> Bool? {
        let relative = offset &- start
        guard relative >= 0, relative < limit else { return nil }
        let word = Int(relative >> 6)
        guard word < words.count else { return false }
        return words[word] & (1 << UInt64(relative & 63)) != 0
    }
}
