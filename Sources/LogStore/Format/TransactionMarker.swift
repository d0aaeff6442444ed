/// A Kafka transaction marker: the one record of a control batch, which ends
/// a producer's transaction in a partition (docs/FORMAT.md). Its batch has the
/// transactional and control attribute bits, the producer's id and epoch, and
/// base sequence -1; its record's key is version 0 and the type (Int16 each),
/// its value version 0 and the coordinator epoch (Int32), all big-endian.
public enum TransactionMarker: Int16, Sendable, Hashable {
    case abort = 0
    case commit = 1

    static let controlVersion: Int16 = 0

    /// The control record's key.
    var key: [UInt8] {
        var bytes: [UInt8] = []
        for value in [Self.controlVersion, rawValue] {
            bytes += [UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
        }
        return bytes
    }

    /// The control record's value for `coordinatorEpoch`.
    static func value(coordinatorEpoch: Int32) -> [UInt8] {
        [0, 0] + (0..<4).map { UInt8(truncatingIfNeeded: coordinatorEpoch >> (24 - 8 * $0)) }
    }

    /// The marker of the control batch at the start of `batch` (verified
    /// bytes); nil when it is not a control batch or holds no marker logd knows.
    init?(controlBatch batch: UnsafeRawBufferPointer) {
        guard case .success(let header) = BatchHeader.decode(batch), header.isControl, batch.count >= header.size else {
            return nil
        }
        var key: [UInt8]?
        try? BatchDecoder.forEachRecord(in: batch, header: header) { record in
            key = record.key.map { Array($0) }
            return false
        }
        guard let key, key.count == 4, key[0] == 0, key[1] == 0, key[2] == 0,
            let marker = TransactionMarker(rawValue: Int16(key[3]))
        else { return nil }
        self = marker
    }

    /// The bytes of the control batch (base offset 0) that ends the
    /// transaction of `producerID` at `epoch` with this marker.
    func controlBatch(producerID: Int64, epoch: Int16, coordinatorEpoch: Int32, timestamp: Int64) -> [UInt8] {
        let record = Record(key: key, value: Self.value(coordinatorEpoch: coordinatorEpoch), timestamp: timestamp)
        let size = BatchEncoder.encodedSize([record], now: timestamp)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { buffer in
            let pointer = buffer.baseAddress!
            BatchEncoder.encode([record], baseOffset: 0, now: timestamp, size: size, to: pointer)
            pointer.storeBigEndian(BatchLayout.transactional | BatchLayout.control, at: BatchLayout.attributes)
            pointer.storeBigEndian(producerID, at: BatchLayout.producerId)
            pointer.storeBigEndian(epoch, at: BatchLayout.producerEpoch)
            let crc = CRC32C.checksum(
                UnsafeRawBufferPointer(start: pointer + BatchLayout.attributes, count: size - BatchLayout.attributes))
            pointer.storeBigEndian(crc, at: BatchLayout.crc)
        }
        return bytes
    }
}
