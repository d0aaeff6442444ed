/// A record inside a batch, as views into the batch's bytes: valid only for
/// the duration of the closure that receives it.
public struct RecordView {
    public var offset: Int64
    public var timestamp: Int64
    public var key: UnsafeRawBufferPointer?
    public var value: UnsafeRawBufferPointer?
    /// The encoded headers (count varint, then key/value pairs).
    var encodedHeaders: UnsafeRawBufferPointer

    /// The headers, decoded (allocates).
    public func headers() -> [RecordHeader] {
        var index = 0
        guard let count = Varint.read(encodedHeaders, at: &index), count > 0 else { return [] }
        var headers: [RecordHeader] = []
        // Each header takes at least two bytes: a damaged count cannot make us allocate more.
        headers.reserveCapacity(Int(min(count, Int64(encodedHeaders.count / 2))))
        for _ in 0..<count {
            // Lengths are compared with what is left, never added to: a damaged one may be near Int64.max.
            guard let keyLength = Varint.read(encodedHeaders, at: &index), keyLength >= 0,
                keyLength <= encodedHeaders.count - index
            else { break }
            let key = String(
                decoding: UnsafeRawBufferPointer(rebasing: encodedHeaders[index..<index + Int(keyLength)]), as: UTF8.self)
            index += Int(keyLength)
            guard let valueLength = Varint.read(encodedHeaders, at: &index) else { break }
            var value: [UInt8]?
            if valueLength >= 0 {
                guard valueLength <= encodedHeaders.count - index else { break }
                value = Array(UnsafeRawBufferPointer(rebasing: encodedHeaders[index..<index + Int(valueLength)]))
                index += Int(valueLength)
            }
            headers.append(RecordHeader(key: key, value: value))
        }
        return headers
    }

    /// A copy that outlives the batch's bytes.
    public func stored() -> StoredRecord {
        StoredRecord(
            offset: offset, timestamp: timestamp, key: key.map { Array($0) }, value: value.map { Array($0) }, headers: headers())
    }
}
