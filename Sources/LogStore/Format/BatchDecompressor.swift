/// The shape of every codec's decompressor (`Gzip`, `Snappy`, `LZ4`, `Zstd`):
/// one compressed records section in, its records out, into a buffer that
/// never grows past a bound. `BatchCodec.decompressor(_:)` picks one by codec.
protocol BatchDecompressor {
    /// Inflates the compressed records section `input` into `output` (its
    /// `count` becomes the inflated size). `output` grows as needed but never
    /// holds more than `limit` bytes: a damaged or hostile batch cannot make a
    /// reader allocate more. The compressed data must end exactly at the end
    /// of `input`.
    static func decompress(_ input: UnsafeRawBufferPointer, into output: WriteBuffer, limit: Int) throws(DecompressionFailure)
}

/// Why a records section could not be inflated. The description leaves out
/// the codec: the caller names it (`BatchCodec.name`).
struct DecompressionFailure: Error, Sendable, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }

    static func tooLarge(limit: Int) -> Self { Self("data inflates to more than \(limit) bytes") }
    static let truncated = Self("data ends early (truncated)")
}

extension WriteBuffer {
    /// Starts a decompression's output: empty, room for `expected` bytes
    /// (a hint from the compressed data, often absent), within `limit`.
    func startDecompressing(expected: Int, limit: Int) {
        count = 0
        reserve(min(max(expected, 256), limit + 1))
    }

    /// Makes room when a streaming decompressor filled the output: doubles
    /// it, up to `limit + 1` bytes. A decompressor that fills that last byte
    /// inflates past `limit`, which is all a bomb needs to be refused.
    func growDecompressing(limit: Int) throws(DecompressionFailure) {
        guard available == 0 else { return }
        guard count <= limit else { throw .tooLarge(limit: limit) }
        reserve(min(capacity * 2, limit + 1))
    }

    /// Checks a finished decompression's size against `limit`.
    func finishDecompressing(limit: Int) throws(DecompressionFailure) {
        guard count <= limit else { throw .tooLarge(limit: limit) }
    }
}
