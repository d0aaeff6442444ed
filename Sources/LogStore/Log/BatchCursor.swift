/// A read of consecutive batches for `Log.forEachBatch`: where it stands in
/// the current segment, the offset the next batch must start at, and the
/// bytes read so far. Every batch is verified (CRC-32C, and that its base
/// offset is the one the index or the previous batch promised) before the
/// caller sees it, so damage is an error naming file, offset and position,
/// never data.
struct BatchCursor {
    /// The offset the read was asked for: the first batch must hold it.
    let startOffset: Int64
    let maxBytes: Int
    /// Store position of the next byte to read in the current segment.
    private var position: Int64
    /// Offset the next batch must start at.
    private var expected: Int64
    /// Bytes the next `pread` asks for.
    private var want: Int
    private var bytesRead = 0
    private var isFirstBatch = true
    private var buffer: [UInt8] = []
    /// The index entry the next batch should have in the current segment.
    private var entryNumber: Int
    /// Where the batches checked so far in this segment, each agreeing with
    /// its index entry, began (nil: the last one did not agree); recorded in
    /// the segment's `verified` ranges when the read leaves it.
    private var verifiedStart: Int64?

    /// Starts at the batch holding `offset` in `extent`, found through the index.
    init(locating offset: Int64, in extent: SegmentExtent, maxBytes: Int) throws {
        startOffset = offset
        self.maxBytes = maxBytes
        let index = extent.segment.index
        let entryNumber = try extent.entryNumber(holding: offset)
        self.entryNumber = entryNumber
        let entry = index.entry(entryNumber)
        // A damaged index must neither trap the reader nor send it past the
        // end of the store, where it would find nothing and report no error.
        guard entry.position >= 0, entry.position < extent.storeSize else {
            throw LogStoreError(
                .corruption, "index entry points to position \(entry.position), outside the store of \(extent.storeSize) bytes",
                path: index.file.path.string, offset: offset)
        }
        position = entry.position
        expected = extent.baseOffset + Int64(entry.relativeOffset)
        // The first read is sized from the index: exactly the batch holding `offset`.
        var firstEnd = entryNumber + 1 < extent.indexCount ? index.entry(entryNumber + 1).position : extent.storeSize
        if firstEnd <= position || firstEnd > extent.storeSize { firstEnd = extent.storeSize }
        want = max(Int(firstEnd - position), maxBytes)
    }

    /// Moves to the start of the next segment, which must begin where the last one ended.
    mutating func enter(_ extent: SegmentExtent) throws {
        position = 0
        entryNumber = 0
        verifiedStart = nil
        guard extent.baseOffset == expected else {
            throw LogStoreError(
                .corruption, "segment starts at offset \(extent.baseOffset) but the one before ends at \(expected)",
                path: extent.segment.store.path.string, offset: expected)
        }
    }

    /// Reads the batches of `extent` from the cursor's position to its end,
    /// passing each to `body`.
    /// - Returns: false once `body` returned false or `maxBytes` were read
    ///   (the read is over); true at the end of the segment.
    mutating func readSegment(_ extent: SegmentExtent, _ body: (UnsafeRawBufferPointer, BatchHeader) throws -> Bool) throws
        -> Bool
    {
        while position < extent.storeSize {
            let chunk = Int(min(Int64(want), extent.storeSize - position))
            if buffer.count < chunk {
                buffer = [UInt8](unsafeUninitializedCapacity: chunk) { _, initialized in initialized = chunk }
            }
            var bytes = buffer
            buffer = []
            defer { buffer = bytes }
            let read = try bytes.withUnsafeMutableBytes {
                try extent.segment.store.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<chunk]), at: position)
            }
            guard read == chunk else {
                throw LogStoreError(
                    .offsetOutOfRange, "the store shrank while being read (the log was truncated)",
                    path: extent.segment.store.path.string, offset: expected, position: position)
            }
            let (consumed, keepGoing) = try bytes.withUnsafeBytes { raw in
                try verifyBatches(in: UnsafeRawBufferPointer(rebasing: raw[0..<read]), of: extent, body)
            }
            position += Int64(consumed)
            if !keepGoing {
                notePassed(to: position, in: extent)
                return false
            }
            if consumed == 0 {
                // The batch here is larger than the chunk: size the next read to hold it.
                want = bytes.withUnsafeBytes { raw in
                    if case .success(let header) = BatchHeader.decode(UnsafeRawBufferPointer(rebasing: raw[0..<read])) {
                        return header.size
                    }
                    return BatchLayout.headerSize
                }
            } else {
                want = max(maxBytes - bytesRead, BatchLayout.headerSize)
            }
        }
        notePassed(to: position, in: extent)
        return true
    }

    /// Records the batches checked before `end` (where one that failed or
    /// disagrees with the index starts) as verified; a new run starts after.
    private mutating func notePassed(to end: Int64, in extent: SegmentExtent) {
        if let start = verifiedStart { extent.segment.noteVerified(start..<end) }
        verifiedStart = nil
    }

    /// Verifies and passes on the whole batches at the start of `chunk`,
    /// read at the cursor's position.
    /// - Returns: the bytes they took (a batch cut by the chunk's end waits
    ///   for the next read), and whether to go on.
    private mutating func verifyBatches(
        in chunk: UnsafeRawBufferPointer, of extent: SegmentExtent, _ body: (UnsafeRawBufferPointer, BatchHeader) throws -> Bool
    ) throws -> (consumed: Int, keepGoing: Bool) {
        var local = 0
        while local < chunk.count {
            let rest = UnsafeRawBufferPointer(rebasing: chunk[local...])
            let header: BatchHeader
            switch BatchHeader.decodeAndVerify(rest) {
            case .success(let decoded): header = decoded
            case .failure(.truncated) where position + Int64(chunk.count) < extent.storeSize:
                return (local, true)  // the batch goes on past this chunk: read it next round
            case .failure(let problem):
                notePassed(to: position + Int64(local), in: extent)
                throw LogStoreError(
                    .corruption, "batch failed its check: \(problem)", path: extent.segment.store.path.string,
                    offset: expected, position: position + Int64(local))
            }
            guard header.baseOffset == expected, !isFirstBatch || (header.baseOffset...header.lastOffset).contains(startOffset)
            else {
                notePassed(to: position + Int64(local), in: extent)
                throw LogStoreError(
                    .corruption,
                    "batch at this position starts at offset \(header.baseOffset), but the index or the batch before promised \(expected)",
                    path: extent.segment.store.path.string, offset: expected, position: position + Int64(local))
            }
            isFirstBatch = false
            let batchPosition = position + Int64(local)
            let entry = entryNumber < extent.indexCount ? extent.segment.index.entry(entryNumber) : nil
            if entry?.position != batchPosition
                || entry.map({ extent.baseOffset + Int64($0.relativeOffset) }) != header.baseOffset
            {
                notePassed(to: batchPosition, in: extent)
            } else if verifiedStart == nil {
                verifiedStart = batchPosition
            }
            entryNumber += 1
            local += header.size
            bytesRead += header.size
            expected = header.nextOffset
            if try !body(UnsafeRawBufferPointer(rebasing: rest[0..<header.size]), header) || bytesRead >= maxBytes {
                return (local, false)
            }
        }
        return (local, true)
    }
}
