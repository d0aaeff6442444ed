import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fetch (key 1) request, v4-11.
public struct FetchRequest: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var fetchOffset: Int64
        public var maxBytes: Int32
        public init(index: Int32, fetchOffset: Int64, maxBytes: Int32) {
            self.index = index
            self.fetchOffset = fetchOffset
            self.maxBytes = maxBytes
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var maxWaitMilliseconds: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    public var isolationLevel: Int8
    public var topics: [Topic]

    public init(maxWaitMilliseconds: Int32, minBytes: Int32, maxBytes: Int32, isolationLevel: Int8 = 0, topics: [Topic]) {
        self.maxWaitMilliseconds = maxWaitMilliseconds
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.isolationLevel = isolationLevel
        self.topics = topics
    }

    static func decode(_ reader: inout KafkaReader, version: Int16) throws(KafkaDecodingError) -> Self {
        _ = try reader.int32()  // replica_id: -1 for consumers
        let maxWait = try reader.int32()
        let minBytes = try reader.int32()
        let maxBytes = try reader.int32()
        let isolationLevel = try reader.int8()
        if version >= 7 {
            // Fetch sessions (KIP-227) are not kept: every answer says session 0, so clients send full requests.
            _ = try reader.int32()  // session_id
            _ = try reader.int32()  // session_epoch
        }
        let topics = try reader.topics { (reader: inout KafkaReader) throws(KafkaDecodingError) in
            let index = try reader.int32()
            if version >= 9 { _ = try reader.int32() }  // current_leader_epoch
            let fetchOffset = try reader.int64()
            if version >= 5 { _ = try reader.int64() }  // log_start_offset: a follower's
            return Partition(index: index, fetchOffset: fetchOffset, maxBytes: try reader.int32())
        }
        if version >= 7 {
            _ = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in  // forgotten_topics_data
                _ = try reader.string()
                _ = try reader.array { (reader: inout KafkaReader) throws(KafkaDecodingError) in try reader.int32() }
            }
        }
        if version >= 11 { _ = try reader.string() }  // rack_id
        return FetchRequest(
            maxWaitMilliseconds: maxWait, minBytes: minBytes, maxBytes: maxBytes, isolationLevel: isolationLevel, topics: topics)
    }

    /// The bytes a client sends (tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        buffer.writeKafka(Int32(-1))
        buffer.writeKafka(maxWaitMilliseconds)
        buffer.writeKafka(minBytes)
        buffer.writeKafka(maxBytes)
        buffer.writeKafka(isolationLevel)
        if version >= 7 {
            buffer.writeKafka(Int32(0))
            buffer.writeKafka(Int32(-1))
        }
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            if version >= 9 { buffer.writeKafka(Int32(-1)) }
            buffer.writeKafka(partition.fetchOffset)
            if version >= 5 { buffer.writeKafka(Int64(-1)) }
            buffer.writeKafka(partition.maxBytes)
        }
        if version >= 7 { buffer.writeKafkaArray([String]()) { $0.writeKafka($1) } }
        if version >= 11 { buffer.writeKafka("") }
    }
}

/// Fetch response: per partition, the watermarks and the record batches as stored.
public struct FetchResponse: Sendable, Equatable {
    public struct Partition: Sendable, Equatable {
        public var index: Int32
        public var errorCode: ErrorCode
        public var highWatermark: Int64
        public var logStartOffset: Int64
        /// The end of what a read_committed consumer may read (nil: the high watermark).
        public var lastStableOffset: Int64?
        /// For read_committed: the aborted transactions the records overlap.
        public var abortedTransactions: [AbortedTransaction]
        /// Whole record batches, straight from the store.
        public var records: FetchRecords?
        public init(
            index: Int32, errorCode: ErrorCode, highWatermark: Int64, lastStableOffset: Int64? = nil, logStartOffset: Int64,
            abortedTransactions: [AbortedTransaction] = [], records: FetchRecords?
        ) {
            self.index = index
            self.errorCode = errorCode
            self.highWatermark = highWatermark
            self.lastStableOffset = lastStableOffset
            self.logStartOffset = logStartOffset
            self.abortedTransactions = abortedTransactions
            self.records = records
        }
    }

    /// A transaction aborted in a partition: a read_committed consumer drops
    /// the producer's records from `firstOffset` to its abort marker.
    public struct AbortedTransaction: Sendable, Equatable {
        public var producerID: Int64
        public var firstOffset: Int64
        public init(producerID: Int64, firstOffset: Int64) {
            self.producerID = producerID
            self.firstOffset = firstOffset
        }
    }

    public typealias Topic = KafkaTopic<Partition>

    public var errorCode: ErrorCode
    public var topics: [Topic]

    public init(errorCode: ErrorCode = .none, topics: [Topic]) {
        self.errorCode = errorCode
        self.topics = topics
    }

    /// The body in one buffer, the regions of files read into it (tests and tools).
    public func encode(into buffer: inout ByteBuffer, version: Int16) throws {
        for part in encodeParts(version: version) { try part.write(into: &buffer) }
    }

    /// The body in parts, to be written one after the other: the record
    /// batches are parts of their own, the stored bytes as read or regions
    /// of the store files, never copied into the frame (a fetch's response
    /// is mostly them).
    public func encodeParts(version: Int16) -> [IOData] {
        var parts: [IOData] = []
        var buffer = ByteBuffer()
        buffer.writeKafka(Int32(0))  // throttle_time_ms
        if version >= 7 {
            buffer.writeKafka(errorCode.rawValue)
            buffer.writeKafka(Int32(0))  // session_id: no fetch session
        }
        buffer.writeKafkaTopics(topics) { buffer, partition in
            buffer.writeKafka(partition.index)
            buffer.writeKafka(partition.errorCode.rawValue)
            buffer.writeKafka(partition.highWatermark)
            buffer.writeKafka(partition.lastStableOffset ?? partition.highWatermark)
            if version >= 5 { buffer.writeKafka(partition.logStartOffset) }
            buffer.writeKafkaArray(partition.abortedTransactions) { buffer, aborted in
                buffer.writeKafka(aborted.producerID)
                buffer.writeKafka(aborted.firstOffset)
            }
            if version >= 11 { buffer.writeKafka(Int32(-1)) }  // preferred_read_replica
            guard let records = partition.records, records.byteCount > 0 else {
                // An empty record set, never null: librdkafka 2.0 refuses a size of -1 before it reads
                // the partition's error, and so never sees OFFSET_OUT_OF_RANGE. Kafka sends 0 too.
                buffer.writeKafka(Int32(0))
                return
            }
            buffer.writeKafka(Int32(truncatingIfNeeded: records.byteCount))
            parts.append(.byteBuffer(buffer))
            parts.append(contentsOf: records.parts)
            buffer = ByteBuffer()
        }
        parts.append(.byteBuffer(buffer))
        return parts
    }
}

/// A partition's record batches in a fetch response: parts sent one after
/// the other, bytes in memory or regions of files that the server sends
/// from the page cache (sendfile). The regions' file handles belong to
/// whoever made them, who closes them once the parts are written.
public struct FetchRecords: Sendable, Equatable {
    public var parts: [IOData]
    /// The bytes of every part: the size the response gives the record set.
    public let byteCount: Int

    public init(_ buffer: ByteBuffer) {
        self.init(parts: [.byteBuffer(buffer)])
    }

    public init(parts: [IOData]) {
        self.parts = parts
        byteCount = parts.reduce(0) { $0 + $1.readableBytes }
    }
}

extension IOData {
    /// Appends the part's bytes to `buffer`, reading a file region from its file.
    public func write(into buffer: inout ByteBuffer) throws {
        switch self {
        case .byteBuffer(var bytes):
            buffer.writeBuffer(&bytes)
        case .fileRegion(let region):
            let count = region.readableBytes
            try region.fileHandle.withUnsafeFileDescriptor { descriptor in
                var done = 0
                while done < count {
                    let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { target in
                        let n = pread(descriptor, target.baseAddress, count - done, off_t(region.readerIndex + done))
                        if n < 0 && errno == EINTR { return 0 }
                        guard n > 0 else { throw IOError(errnoCode: n == 0 ? EIO : errno, reason: "pread of a file region") }
                        return n
                    }
                    done += read
                }
            }
        }
    }
}
