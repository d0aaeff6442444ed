import CZstd

/// zstd (RFC 8878) through the system libzstd. Kafka's codec 4 stores a
/// batch's records section as a zstd frame; producers that compress as a
/// stream (Kafka's Java clients) leave the content size out of its header,
/// so the frame is decompressed as a stream too.
enum Zstd: BatchDecompressor {
    /// The largest window a frame may ask for: 2^27 bytes (128 MiB), zstd's
    /// own default limit, set here so that the memory bound is in sight. The
    /// window of a frame without a content size is allocated up front.
    static let maxWindowLog: Int32 = 27

    /// Inflates the zstd frame `input` (frames one after another are read in
    /// turn, as zstd's own decoder does) into `output`.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: WriteBuffer, limit: Int) throws(DecompressionFailure) {
        guard let inputBase = input.baseAddress, !input.isEmpty else { throw DecompressionFailure("no zstd frame (0 bytes)") }
        // The frame header's content size, when the producer wrote it, sizes the output (and refuses a bomb at once).
        let contentSize = ZSTD_getFrameContentSize(inputBase, input.count)
        let unknownOrError = UInt64.max - 1  // ZSTD_CONTENTSIZE_ERROR (0ULL - 2), ZSTD_CONTENTSIZE_UNKNOWN (0ULL - 1)
        if contentSize < unknownOrError, contentSize > UInt64(limit) { throw .tooLarge(limit: limit) }
        output.startDecompressing(expected: contentSize < unknownOrError ? Int(contentSize) : input.count * 4, limit: limit)
        guard let context = ZSTD_createDCtx() else { throw DecompressionFailure("zstd cannot allocate a decompression context") }
        defer { ZSTD_freeDCtx(context) }
        let parameter = ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, maxWindowLog)
        guard ZSTD_isError(parameter) == 0 else { throw failure(parameter) }
        var source = ZSTD_inBuffer(src: inputBase, size: input.count, pos: 0)
        while true {
            try output.growDecompressing(limit: limit)
            var destination = ZSTD_outBuffer(dst: output.pointer + output.count, size: output.available, pos: 0)
            let consumedBefore = source.pos
            // Returns 0 once a frame is decoded and flushed, else a hint of the input still wanted.
            let result = ZSTD_decompressStream(context, &destination, &source)
            guard ZSTD_isError(result) == 0 else { throw failure(result) }
            output.count += destination.pos
            let inputLeft = source.pos < source.size
            if result == 0 && !inputLeft {
                try output.finishDecompressing(limit: limit)
                return
            }
            // Room left, input gone, frame unfinished: the frame was cut.
            if !inputLeft && destination.pos < destination.size { throw .truncated }
            guard source.pos > consumedBefore || destination.pos > 0 else {
                throw DecompressionFailure("zstd decoder makes no progress")
            }
        }
    }

    private static func failure(_ code: Int) -> DecompressionFailure {
        DecompressionFailure("data is corrupt: \(String(cString: ZSTD_getErrorName(code)))")
    }
}
