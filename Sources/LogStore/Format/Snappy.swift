import CSnappy

/// Snappy through the system libsnappy's C API. Kafka's codec 2 has two
/// framings in the wild, told apart by snappy-java's magic:
///
/// - Kafka's Java clients write snappy-java's stream (`SnappyOutputStream`):
///   a 16-byte header (magic `0x82 "SNAPPY" 0x00`, then a version and a
///   compatible version, int32 big-endian each), then blocks, each a 4-byte
///   big-endian compressed length and one raw snappy block. A header may
///   recur between blocks (concatenated streams, which snappy-java reads on).
/// - librdkafka writes one raw snappy block (its own varint preamble says
///   the uncompressed length).
enum Snappy: BatchDecompressor {
    /// snappy-java's stream magic: `0x82 "SNAPPY" 0x00`.
    static let javaMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    /// The magic, the version and the compatible version.
    static let javaHeaderSize = 16

    static func decompress(_ input: UnsafeRawBufferPointer, into output: WriteBuffer, limit: Int) throws(DecompressionFailure) {
        guard hasJavaHeader(input, at: 0) else {
            output.startDecompressing(expected: 0, limit: limit)
            try appendBlock(input, to: output, limit: limit)
            return
        }
        output.startDecompressing(expected: input.count * 4, limit: limit)
        var position = javaHeaderSize
        var block = 0
        while position < input.count {
            if hasJavaHeader(input, at: position) {
                position += javaHeaderSize
                continue
            }
            guard input.count - position >= 4 else { throw DecompressionFailure("snappy-java block \(block) has a cut length") }
            let length = Int(input.loadBigEndian(at: position, as: UInt32.self))
            position += 4
            // Compared with what is left, never added to: a damaged length may be near 2^32.
            guard length <= input.count - position else {
                throw DecompressionFailure(
                    "snappy-java block \(block) says \(length) bytes, \(input.count - position) are left (truncated)")
            }
            do {
                try appendBlock(UnsafeRawBufferPointer(rebasing: input[position..<position + length]), to: output, limit: limit)
            } catch {
                throw DecompressionFailure("snappy-java block \(block): \(error)")
            }
            position += length
            block += 1
        }
    }

    /// True when a snappy-java stream header starts at `position`.
    static func hasJavaHeader(_ input: UnsafeRawBufferPointer, at position: Int) -> Bool {
        input.count - position >= javaHeaderSize && input[position..<position + javaMagic.count].elementsEqual(javaMagic)
    }

    /// Appends the inflated raw snappy block `block` to `output`. Its
    /// preamble gives the inflated size, checked against `limit` before any
    /// allocation; libsnappy checks every copy against the output's bounds.
    private static func appendBlock(
        _ block: UnsafeRawBufferPointer, to output: WriteBuffer, limit: Int
    ) throws(DecompressionFailure) {
        guard let base = block.baseAddress?.assumingMemoryBound(to: CChar.self), !block.isEmpty else {
            throw DecompressionFailure("empty snappy block")
        }
        var length = 0
        guard snappy_uncompressed_length(base, block.count, &length) == SNAPPY_OK else {
            throw DecompressionFailure("data is corrupt: no valid snappy length preamble")
        }
        guard length <= limit - output.count else { throw .tooLarge(limit: limit) }
        if length > output.available {
            // Doubling keeps a stream of many small blocks from copying the output once per block.
            output.reserve(max(output.count + length, min(output.capacity * 2, limit)))
        }
        var written = output.available
        let status = snappy_uncompress(
            base, block.count, (output.pointer + output.count).assumingMemoryBound(to: CChar.self), &written)
        guard status == SNAPPY_OK, written == length else {
            throw DecompressionFailure("data is corrupt (snappy status \(status.rawValue))")
        }
        output.count += length
    }
}
