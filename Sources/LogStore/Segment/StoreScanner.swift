/// Reads a `.store` file front to back, checking every batch: its length, its
/// magic, its CRC-32C and that its base offset continues the sequence. Used by
/// recovery (to find the end of good data and rebuild the index) and `verify`.
struct StoreScanner {
    /// Where good data stops, and why.
    struct Damage: Sendable, Equatable {
        /// Byte position of the first bad batch.
        var position: Int64
        /// The offset the bad batch should have started at.
        var expectedOffset: Int64
        var problem: BatchHeader.Problem
        /// True when no good batch follows the damage: a torn tail, which
        /// recovery cuts off. False means damage in the middle of the data,
        /// which is reported, never cut silently (DESIGN.md rule 2), unless
        /// it `isLostWrite`.
        var isTail: Bool
        /// A good batch follows, but the bytes up to it end in zeros from a
        /// 512-byte boundary (or are all zeros): what a power loss leaves when
        /// it keeps a later unsynced write and loses an earlier one (a file's
        /// unwritten bytes read as zeros). An `fdatasync` covers the whole
        /// file, so nothing from here on was ever acknowledged as durable:
        /// recovery sets it aside and cuts, as for a torn tail.
        var isLostWrite = false

        /// Whether the damage ends what a crash left: a torn tail or a lost write.
        var isCrashTail: Bool { isTail || isLostWrite }
    }

    struct Result: Sendable {
        /// End of the last good batch.
        var validEnd: Int64
        /// One past the last offset of the good batches.
        var nextOffset: Int64
        var batchCount: Int
        var damage: Damage?
    }

    let file: OpenFile
    let fileSize: Int64
    var chunkSize = 4 << 20

    /// Scans from `position` (0: the whole file), expecting the first batch
    /// there to start at `baseOffset`; `onBatch` sees each good batch's
    /// position and header in order.
    func scan(from start: Int64 = 0, baseOffset: Int64, onBatch: (Int64, BatchHeader) throws -> Void) throws -> Result {
        try scanBatches(from: start, baseOffset: baseOffset) { position, header, _ in
            try onBatch(position, header)
            return true
        }
    }

    /// `scan`, handing `body` each good batch's bytes too (valid only during
    /// the call); `body` returns false to stop after that batch.
    func scanBatches(
        from start: Int64 = 0, baseOffset: Int64, _ body: (Int64, BatchHeader, UnsafeRawBufferPointer) throws -> Bool
    ) throws -> Result {
        var buffer = [UInt8](repeating: 0, count: min(chunkSize, max(Int(fileSize - start), BatchLayout.headerSize)))
        var bufferStart: Int64 = start
        var bufferCount = 0
        var position: Int64 = start
        var expected = baseOffset
        var batches = 0
        while position < fileSize {
            // Make sure the batch at `position` is in the buffer, header first.
            var local = Int(position - bufferStart)
            if local + BatchLayout.headerSize > bufferCount {
                bufferStart = position
                bufferCount = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: position) }
                local = 0
            }
            let decoded = buffer.withUnsafeBytes {
                BatchHeader.decode(UnsafeRawBufferPointer(rebasing: $0[local..<bufferCount]))
            }
            guard case .success(let header) = decoded, position + Int64(header.size) <= fileSize else {
                let problem: BatchHeader.Problem
                if case .failure(let failure) = decoded { problem = failure } else { problem = .truncated }
                return try damaged(at: position, expected: expected, problem: problem, batches: batches)
            }
            if local + header.size > bufferCount {
                if header.size > buffer.count { buffer = [UInt8](repeating: 0, count: header.size) }
                bufferStart = position
                bufferCount = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: position) }
                local = 0
                guard bufferCount >= header.size else {
                    return try damaged(at: position, expected: expected, problem: .truncated, batches: batches)
                }
            }
            let verified = buffer.withUnsafeBytes {
                BatchHeader.decodeAndVerify(UnsafeRawBufferPointer(rebasing: $0[local..<local + header.size]))
            }
            if case .failure(let problem) = verified {
                return try damaged(at: position, expected: expected, problem: problem, batches: batches)
            }
            guard header.baseOffset == expected else {
                return try damaged(
                    at: position, expected: expected,
                    problem: .invalid("base offset \(header.baseOffset), expected \(expected)"), batches: batches)
            }
            let more = try buffer.withUnsafeBytes {
                try body(position, header, UnsafeRawBufferPointer(rebasing: $0[local..<local + header.size]))
            }
            batches += 1
            expected = header.nextOffset
            position += Int64(header.size)
            if !more { break }
        }
        return Result(validEnd: position, nextOffset: expected, batchCount: batches, damage: nil)
    }

    private func damaged(at position: Int64, expected: Int64, problem: BatchHeader.Problem, batches: Int) throws -> Result {
        let goodBatch = try firstGoodBatch(after: position, expectedOffset: expected)
        var damage = Damage(position: position, expectedOffset: expected, problem: problem, isTail: goodBatch == nil)
        if let goodBatch { damage.isLostWrite = try endsInUnwrittenSectors(from: position, to: goodBatch) }
        return Result(validEnd: position, nextOffset: expected, batchCount: batches, damage: damage)
    }

    /// Whether any good batch (valid CRC, base offset not below `expectedOffset`)
    /// starts after `position`. A torn write leaves garbage at the end; a good
    /// batch after the damage means the damage is in the middle, or a lost write.
    func hasGoodBatch(after position: Int64, expectedOffset: Int64) throws -> Bool {
        try firstGoodBatch(after: position, expectedOffset: expectedOffset) != nil
    }

    /// Whether the bytes in `start..<end` end in zeros that begin at `start`
    /// or at a 512-byte boundary: sectors a lost write never filled.
    func endsInUnwrittenSectors(from start: Int64, to end: Int64) throws -> Bool {
        guard end > start else { return false }
        let sector: Int64 = 512
        var chunkEnd = end
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while chunkEnd > start {
            let chunkStart = max(start, chunkEnd - Int64(buffer.count))
            let count = Int(chunkEnd - chunkStart)
            let read = try buffer.withUnsafeMutableBytes {
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<count]), at: chunkStart)
            }
            guard read == count else { return false }
            if let last = buffer[0..<count].lastIndex(where: { $0 != 0 }) {
                // Zeros run from just after the last written byte to `end`.
                let zerosFrom = chunkStart + Int64(last) + 1
                let boundary = (zerosFrom + sector - 1) / sector * sector
                return boundary < end
            }
            chunkEnd = chunkStart
        }
        return true  // all zeros from `start`
    }

    /// The position of the first good batch (valid CRC, base offset not below
    /// `expectedOffset`) that starts after `position`, if any.
    func firstGoodBatch(after position: Int64, expectedOffset: Int64) throws -> Int64? {
        var start = position + 1
        var buffer = [UInt8](repeating: 0, count: Int(min(Int64(chunkSize), max(fileSize - start, 0))))
        while start + Int64(BatchLayout.headerSize) <= fileSize {
            let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: start) }
            guard count >= BatchLayout.headerSize else { return nil }
            let found: Int64? = try buffer.withUnsafeBytes { bytes in
                for local in 0...(count - BatchLayout.headerSize) {
                    let candidate = UnsafeRawBufferPointer(rebasing: bytes[local..<count])
                    guard case .success(let header) = BatchHeader.decode(candidate), header.baseOffset >= expectedOffset
                    else { continue }
                    let batchStart = start + Int64(local)
                    guard batchStart + Int64(header.size) <= fileSize else { continue }
                    var batch = [UInt8](repeating: 0, count: header.size)
                    let read = try batch.withUnsafeMutableBytes { try file.read(into: $0, at: batchStart) }
                    guard read == header.size else { continue }
                    if case .success = batch.withUnsafeBytes({ BatchHeader.decodeAndVerify($0) }) { return batchStart }
                }
                return nil
            }
            if let found { return found }
            start += Int64(count - BatchLayout.headerSize + 1)
        }
        return nil
    }
}
