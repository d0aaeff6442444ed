/// The parts of a store this process has checked: whole batches whose CRC-32C
/// passed and whose index entries agree with them (position and offset),
/// checked by a read (`BatchCursor`) or written by this process's appends.
/// `Log.locateRecordBatches` hands out only such bytes, to be sent unread
/// (sendfile). A few disjoint ranges, sorted; ranges that touch are merged.
struct VerifiedRanges: Sendable, Equatable {
    /// Enough for a writer's range and a few readers catching up from
    /// elsewhere; past it the range farthest from the newest goes.
    static let limit = 8

    private(set) var ranges: [Range<Int64>] = []

    mutating func insert(_ range: Range<Int64>) {
        guard !range.isEmpty else { return }
        var merged = range
        // Sorted and apart: one pass in order finds every range the growing one touches.
        ranges.removeAll { other in
            guard other.lowerBound <= merged.upperBound, merged.lowerBound <= other.upperBound else { return false }
            merged = min(merged.lowerBound, other.lowerBound)..<max(merged.upperBound, other.upperBound)
            return true
        }
        let at = ranges.firstIndex { $0.lowerBound > merged.lowerBound } ?? ranges.count
        ranges.insert(merged, at: at)
        if ranges.count > Self.limit { ranges.remove(at: at < ranges.count / 2 ? ranges.count - 1 : 0) }
    }

    func contains(_ range: Range<Int64>) -> Bool {
        ranges.contains { $0.lowerBound <= range.lowerBound && range.upperBound <= $0.upperBound }
    }

    /// Forgets everything at and after `position` (the store was cut there).
    mutating func removeAll(from position: Int64) {
        ranges = ranges.compactMap { $0.lowerBound < position ? $0.lowerBound..<min($0.upperBound, position) : nil }
    }
}
