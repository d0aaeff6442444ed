#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A key's 128-bit hash: what the compaction map stores instead of the key.
struct KeyHash: Hashable, Sendable {
    var low: UInt64
    var high: UInt64

    init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// MurmurHash3 x64 128 (seed 0) of `bytes`: fast, and 128 bits make two
    /// keys of one log sharing a hash about as likely as an MD5 collision in
    /// Kafka's map (roughly n² / 2^129 for n keys).
    init(_ bytes: UnsafeRawBufferPointer) {
        var h1: UInt64 = 0
        var h2: UInt64 = 0
        let count = bytes.count
        let blocks = count / 16
        for block in 0..<blocks {
            h1 ^= Self.mixFirst(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: block * 16, as: UInt64.self)))
            h1 = h1.rotatedLeft(27) &+ h2
            h1 = h1 &* 5 &+ 0x52dc_e729
            h2 ^= Self.mixSecond(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: block * 16 + 8, as: UInt64.self)))
            h2 = h2.rotatedLeft(31) &+ h1
            h2 = h2 &* 5 &+ 0x3849_5ab5
        }
        let tail = blocks * 16
        var k1: UInt64 = 0
        var k2: UInt64 = 0
        for index in stride(from: count - 1, through: tail, by: -1) {
            let byte = UInt64(bytes[index])
            let shift = UInt64((index - tail) % 8 * 8)
            if index - tail >= 8 { k2 ^= byte << shift } else { k1 ^= byte << shift }
        }
        if count - tail > 8 { h2 ^= Self.mixSecond(k2) }
        if count - tail > 0 { h1 ^= Self.mixFirst(k1) }
        h1 ^= UInt64(count)
        h2 ^= UInt64(count)
        h1 &+= h2
        h2 &+= h1
        h1 = Self.finalMix(h1)
        h2 = Self.finalMix(h2)
        h1 &+= h2
        h2 &+= h1
        low = h1
        high = h2
    }

    private static let c1: UInt64 = 0x87c3_7b91_1142_53d5
    private static let c2: UInt64 = 0x4cf5_ad43_2745_937f

    @inline(__always)
    private static func mixFirst(_ k: UInt64) -> UInt64 { (k &* c1).rotatedLeft(31) &* c2 }

    @inline(__always)
    private static func mixSecond(_ k: UInt64) -> UInt64 { (k &* c2).rotatedLeft(33) &* c1 }

    @inline(__always)
    private static func finalMix(_ value: UInt64) -> UInt64 {
        var k = value
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}

extension UInt64 {
    @inline(__always)
    fileprivate func rotatedLeft(_ count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}

/// Kafka's SkimpyOffsetMap: a table of fixed size from a key's hash to the
/// latest offset seen for the key. Keys themselves are not stored, so memory
/// is fixed whatever the keys' size: 32 bytes a key of capacity (24-byte
/// slots, at most 3/4 full). A log with more keys is compacted in several
/// passes (`Log.compact`).
final class KeyOffsetMap {
    /// Keys the map takes before `put` of a new key fails.
    let capacity: Int
    private let slotCount: Int
    /// Per slot: hash low, hash high, offset + 1 (0: empty slot).
    private let slots: UnsafeMutablePointer<UInt64>
    private(set) var count = 0

    private let mappedBytes: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        slotCount = self.capacity + self.capacity / 3 + 1
        let hugePage = 2 << 20
        mappedBytes = (slotCount * 3 * MemoryLayout<UInt64>.size + hugePage - 1) / hugePage * hugePage
        // Anonymous memory (zero-filled) in 2 MiB pages where the kernel allows: every
        // lookup lands on a random slot, and small pages would make each a TLB miss too.
        let address = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if let address, address != MAP_FAILED {
            #if os(Linux)
            _ = madvise(address, mappedBytes, MADV_HUGEPAGE)
            #endif
            slots = address.bindMemory(to: UInt64.self, capacity: slotCount * 3)
        } else {
            slots = .allocate(capacity: slotCount * 3)
            slots.initialize(repeating: 0, count: slotCount * 3)
        }
        isMapped = address != nil && address != MAP_FAILED
    }

    private let isMapped: Bool

    deinit {
        if isMapped { munmap(slots, mappedBytes) } else { slots.deallocate() }
    }

    var bytes: Int { slotCount * 3 * MemoryLayout<UInt64>.size }

    /// Empties the map for the next pass. An empty map is left alone: a new
    /// one's pages are not even mapped yet, and writing zeros would fault in
    /// all of them before the first key.
    func clear() {
        guard count > 0 else { return }
        slots.update(repeating: 0, count: slotCount * 3)
        count = 0
    }

    /// The slot a lookup of `hash` starts probing at.
    @inline(__always)
    private func homeSlot(for hash: KeyHash) -> Int {
        // Multiply-shift maps the hash onto [0, slotCount) without a division.
        Int(truncatingIfNeeded: hash.low.multipliedFullWidth(by: UInt64(slotCount)).high)
    }

    /// Starts loading the cache lines of `hash`'s slot, so that a `put` or
    /// `offset(for:)` of it a little later finds them there: every key lands
    /// on a random slot of a table far larger than the caches, and a batch's
    /// misses overlap when its slots are all prefetched first.
    @inline(__always)
    func prefetch(_ hash: KeyHash) {
        let base = UnsafeRawPointer(slots + homeSlot(for: hash) * 3)
        // A 24-byte slot may straddle two cache lines.
        llvmPrefetch(base, 1, 3, 1)
        llvmPrefetch(base + 23, 1, 3, 1)
    }

    /// The slot that holds `hash`, or the empty slot where it would go (linear probing).
    @inline(__always)
    private func slot(for hash: KeyHash) -> Int {
        var slot = homeSlot(for: hash)
        while true {
            let base = slots + slot * 3
            if base[2] == 0 || (base[0] == hash.low && base[1] == hash.high) { return slot }
            slot += 1
            if slot == slotCount { slot = 0 }
        }
    }

    /// What `put` did.
    enum PutResult: Equatable {
        /// The key is new.
        case added
        /// The key was there, with the offset `previous`.
        case replaced(previous: Int64)
        /// The key is new and the map is full: nothing stored.
        case full
    }

    /// Records `offset` as the latest for the key.
    @inline(__always)
    func put(_ hash: KeyHash, offset: Int64) -> PutResult {
        let base = slots + slot(for: hash) * 3
        let previous = base[2]
        if previous == 0 {
            guard count < capacity else { return .full }
            count += 1
            base[0] = hash.low
            base[1] = hash.high
        }
        base[2] = UInt64(offset + 1)
        return previous == 0 ? .added : .replaced(previous: Int64(previous) - 1)
    }

    /// The latest offset recorded for the key.
    @inline(__always)
    func offset(for hash: KeyHash) -> Int64? {
        let base = slots + slot(for: hash) * 3
        return base[2] == 0 ? nil : Int64(base[2]) - 1
    }
}

/// LLVM's prefetch intrinsic (what C's `__builtin_prefetch` lowers to; Swift
/// has no prefetch of its own): address, 0 read / 1 write, locality 0-3, 1 data cache.
@_silgen_name("llvm.prefetch.p0")
private func llvmPrefetch(_ address: UnsafeRawPointer, _ write: Int32, _ locality: Int32, _ cache: Int32)
