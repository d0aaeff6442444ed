extension Log {
    /// A batch compressed before it has a base offset (the offset lies outside
    /// the CRC's range and is stored when the batch goes into the write buffer).
    struct CompressedBatch {
        var buffer: WriteBuffer
        var size: Int
        var maxTimestamp: Int64
    }

    /// `records` encoded and gzip-compressed with a compressor from the log's
    /// pool; nil when compression does not shrink the batch (it is then
    /// appended uncompressed).
    func gzipBatch<C: Collection<Record>>(_ records: C, now: Int64, size: Int, level: Int) throws -> CompressedBatch? {
        let plain = WriteBuffer(capacity: size)
        let maxTimestamp = BatchEncoder.encode(records, baseOffset: 0, now: now, size: size, to: plain.pointer)
        plain.count = size
        var compressed = try gzipFinishedBatch(plain.bytes, level: level)
        compressed?.maxTimestamp = maxTimestamp
        return compressed
    }

    /// The finished uncompressed `batch` gzip-compressed (its `maxTimestamp`
    /// left 0 for the caller); nil when compression does not shrink it.
    func gzipFinishedBatch(_ batch: UnsafeRawBufferPointer, level: Int) throws -> CompressedBatch? {
        let output = WriteBuffer(capacity: batch.count)
        let compressed = try withDeflater(level: level) { deflater in
            BatchCompressor.gzip(batch, deflater: deflater, into: output.pointer)
        }
        return compressed.map { CompressedBatch(buffer: output, size: $0, maxTimestamp: 0) }
    }

    /// Runs `body` with a gzip compressor of `level` from the pool (made when
    /// none is free), then returns it to the pool.
    func withDeflater<T>(level: Int, _ body: (GzipDeflater) throws -> T) throws -> T {
        let pooled = deflaters.withLock { pool -> GzipDeflater? in
            guard let index = pool.lastIndex(where: { $0.level == level }) else { return nil }
            return pool.remove(at: index)
        }
        let deflater = try pooled ?? GzipDeflater(level: level)
        defer {
            deflaters.withLock { pool in
                // As many as threads compress at once, within reason.
                if pool.count < 8 { pool.append(deflater) }
            }
        }
        return try body(deflater)
    }
}
