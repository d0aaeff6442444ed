import CLZ4

/// LZ4 through the system liblz4's frame API. Kafka's codec 3 stores a
/// batch's records section as an LZ4 frame (the frame format, not raw LZ4
/// blocks). Magic 0 and 1 messages of old clients computed the frame header
/// checksum wrongly; record batches (magic 2) carry the correct one, which
/// liblz4 checks along with any block and content checksums.
enum LZ4: BatchDecompressor {
    /// Inflates the LZ4 frame `input` (frames one after another are read in
    /// turn) into `output`.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: WriteBuffer, limit: Int) throws(DecompressionFailure) {
        guard let inputBase = input.baseAddress, !input.isEmpty else { throw DecompressionFailure("no lz4 frame (0 bytes)") }
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw DecompressionFailure("lz4 cannot allocate a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        // Kafka's producers leave the frame's optional content size out, so the output starts from a guess.
        output.startDecompressing(expected: input.count * 4, limit: limit)
        var consumed = 0
        while true {
            try output.growDecompressing(limit: limit)
            var sourceSize = input.count - consumed
            var destinationSize = output.available
            // Returns 0 once a frame is decoded, else a hint of the input still wanted.
            let result = LZ4F_decompress(
                context, output.pointer + output.count, &destinationSize, inputBase + consumed, &sourceSize, nil)
            guard LZ4F_isError(result) == 0 else {
                throw DecompressionFailure("data is corrupt: \(String(cString: LZ4F_getErrorName(result)))")
            }
            consumed += sourceSize
            output.count += destinationSize
            let inputLeft = consumed < input.count
            if result == 0 && !inputLeft {
                try output.finishDecompressing(limit: limit)
                return
            }
            // Room left, input gone, frame unfinished: the frame was cut.
            if !inputLeft && output.available > 0 { throw .truncated }
            guard sourceSize > 0 || destinationSize > 0 else { throw DecompressionFailure("lz4 decoder makes no progress") }
        }
    }
}
