/// A header of a record: a string key and an optional byte value.
public struct RecordHeader: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = Array(value.utf8)
    }
}

/// A record to append: an optional key, an optional value (nil is a
/// tombstone), headers, and a timestamp in milliseconds since the epoch
/// (nil: the time of the append).
public struct Record: Sendable, Hashable {
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]
    public var timestamp: Int64?

    public init(key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// A record whose value is the UTF-8 bytes of `value`.
    public init(_ value: String, key: String? = nil, headers: [RecordHeader] = []) {
        self.init(key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: headers)
    }
}

/// A record read back from the log, with the offset the log assigned it.
public struct StoredRecord: Sendable, Hashable {
    public var offset: Int64
    /// Milliseconds since the epoch.
    public var timestamp: Int64
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [RecordHeader]

    public init(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader]) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The record without its offset, as it would be appended again.
    public var record: Record {
        Record(key: key, value: value, headers: headers, timestamp: timestamp)
    }
}

extension Log {
    /// The most bytes one batch (one store entry) may take, 64 MiB: the
    /// largest record a log holds is a little under this. Readers and recovery
    /// refuse anything larger as damage.
    public static let maxBatchBytes = BatchLayout.maxBatchSize

    /// The bytes `records` take appended as one uncompressed batch; an append
    /// whose batch exceeds `maxBatchBytes` is refused.
    public static func batchBytes<C: Collection<Record>>(of records: C) -> Int {
        BatchEncoder.encodedSize(records, now: currentTimeMillis())
    }

    /// The bytes `record` takes appended as a batch of its own: `batchBytes(of:)`
    /// of one record, without a generic call across modules (an ingester asks once per change).
    public static func batchBytes(of record: Record) -> Int {
        BatchEncoder.encodedSize(CollectionOfOne(record), now: currentTimeMillis())
    }
}
