/// The checks a record batch v2 encoded elsewhere must pass before it is
/// stored (those of Kafka's `LogValidator` for a produced batch).
enum RecordBatchCheck {
    /// Checks `bytes` and returns the batch's header.
    static func check(_ bytes: UnsafeRawBufferPointer) throws -> BatchHeader {
        func invalid(_ what: String) -> LogStoreError { LogStoreError(.invalidArgument, "record batch refused: \(what)") }
        guard bytes.count >= BatchLayout.headerSize else {
            throw invalid("\(bytes.count) bytes, fewer than the \(BatchLayout.headerSize) of a batch header")
        }
        let header: BatchHeader
        switch BatchHeader.decodeAndVerify(bytes) {
        case .success(let decoded): header = decoded
        case .failure(let problem): throw invalid("\(problem)")
        }
        guard header.size == bytes.count else {
            throw invalid(
                "the batch length says \(header.size) bytes, but \(bytes.count) were sent (exactly one batch is expected)")
        }
        guard header.baseOffset == 0 else { throw invalid("base offset \(header.baseOffset), not 0") }
        guard header.recordCount > 0, header.lastOffsetDelta == header.recordCount - 1 else {
            throw invalid("record count \(header.recordCount) with last offset delta \(header.lastOffsetDelta)")
        }
        guard !header.isControl else {
            throw invalid("a control batch (transaction markers are written by the server alone)")
        }
        guard BatchCodec.isReadable(header.codec) else {
            throw LogStoreError(
                .unsupportedCompression,
                "record batch refused: compression codec \(header.codec) (\(BatchCodec.name(header.codec))) is not supported by this build"
            )
        }
        var expectedOffset: Int64 = 0
        do {
            try BatchDecoder.forEachRecord(in: bytes, header: header) { record in
                guard record.offset == expectedOffset else {
                    throw invalid("record offset delta \(record.offset), expected \(expectedOffset)")
                }
                expectedOffset += 1
                return true
            }
        } catch let error as LogStoreError where error.code == .corruption {
            throw invalid(error.message)
        }
        guard expectedOffset == Int64(header.recordCount) else {
            throw invalid("\(expectedOffset) records where the header says \(header.recordCount)")
        }
        return header
    }
}
