import LogStore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The changes of transactions Postgres streams while they run (protocol 2,
/// `streaming 'on'`), staged on disk until their Stream Commit: one file
/// per top-level transaction in `<log>/.ingest-staging/<xid>`, so that no
/// transaction size makes memory grow. A staged change is its log record
/// but for what only the commit tells (commit LSN, ordinal, commit time):
/// at the commit the records are read back in order and completed, never
/// decoded again (`ChangeEnvelope.committedValue`).
///
/// Staging is never durable and never acknowledged: every session starts by
/// removing what an earlier one left, and Postgres sends the transactions
/// that did not commit into the log again from their start.
///
/// Not thread-safe: owned by the ingest loop.
public final class StreamStaging {
    /// The staging directory's name inside the log directory.
    public static let directoryName = ".ingest-staging"
    /// Buffered bytes of one transaction before they are written out.
    static let bufferBytes = 256 << 10

    /// A class: the ingest loop looks one up per change and changes it in place.
    private final class Transaction {
        let descriptor: FileDescriptor
        /// Bytes written to the file.
        var fileSize: Int64 = 0
        /// Staged bytes not written out yet.
        let buffer = StagingBuffer(capacity: StreamStaging.bufferBytes + (64 << 10))
        /// Records staged.
        var records = 0
        /// Subtransactions in the order their first change came, with where it starts.
        var subtransactions: [(xid: UInt32, offset: Int64, records: Int)] = []
        /// The relation versions whose schema record is staged, and where.
        var schemas: [UInt32: (version: Int, offset: Int64)] = [:]
        var size: Int64 { fileSize + Int64(buffer.count) }

        init(descriptor: FileDescriptor) {
            self.descriptor = descriptor
        }
    }

    let directory: FilePath
    private var transactions: [UInt32: Transaction] = [:]

    /// Starts with an empty staging directory in `logDirectory`, removing
    /// whatever an earlier session left.
    init(logDirectory: FilePath) throws {
        directory = logDirectory.appending(Self.directoryName)
        Self.removeAll(in: directory)
        if mkdir(directory.string, 0o755) != 0 {
            throw IngestError(.staging, "cannot create the staging directory \(directory): \(Errno(rawValue: errno))")
        }
    }

    /// Transactions staged and not ended yet.
    var count: Int { transactions.count }
    var isEmpty: Bool { transactions.isEmpty }
    var stagedBytes: Int64 { transactions.values.reduce(0) { $0 + $1.size } }

    /// Whether `xid` has staged changes.
    func contains(_ xid: UInt32) -> Bool { transactions[xid] != nil }

    private func path(_ xid: UInt32) -> FilePath { directory.appending(String(xid)) }

    /// Makes the staging file of `xid` (Stream Start of its first segment; a
    /// later segment of a transaction this session has not seen starts one too).
    func begin(_ xid: UInt32) throws {
        guard transactions[xid] == nil else { return }
        do {
            let descriptor = try FileDescriptor.open(
                path(xid), .readWrite, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
            transactions[xid] = Transaction(descriptor: descriptor)
        } catch {
            throw IngestError(.staging, "cannot create the staging file \(path(xid)): \(error)")
        }
    }

    /// The records `xid` has staged.
    func recordCount(_ xid: UInt32) -> Int { transactions[xid]?.records ?? 0 }

    /// The version of `relation` whose schema record `xid` staged last, if any.
    func stagedSchemaVersion(_ xid: UInt32, relation: UInt32) -> Int? { transactions[xid]?.schemas[relation]?.version }

    /// Stages `record` (made with a placeholder commit) of `xid`'s
    /// subtransaction `subtransaction`; `schema` names the relation and
    /// version of a schema record.
    func add(_ record: Record, lsn: LSN, xid: UInt32, subtransaction: UInt32, schema: (relation: UInt32, version: Int)?) throws {
        guard let transaction = transactions[xid] else {
            throw IngestError(.protocolViolation, "a streamed change of transaction \(xid) outside its stream")
        }
        if subtransaction != xid, !transaction.subtransactions.contains(where: { $0.xid == subtransaction }) {
            transaction.subtransactions.append((subtransaction, transaction.size, transaction.records))
        }
        if let schema { transaction.schemas[schema.relation] = (schema.version, transaction.size) }
        try StagedRecord.encode(record, lsn: lsn, schema: schema, into: transaction.buffer)
        transaction.records += 1
        if transaction.buffer.count >= Self.bufferBytes { try flush(transaction, xid) }
    }

    /// Writes out what `xid` buffered (at Stream Stop).
    func flush(_ xid: UInt32) throws {
        guard let transaction = transactions[xid] else { return }
        try flush(transaction, xid)
    }

    private func flush(_ transaction: Transaction, _ xid: UInt32) throws {
        guard transaction.buffer.count > 0 else { return }
        do {
            _ = try transaction.descriptor.writeAll(toAbsoluteOffset: transaction.fileSize, transaction.buffer.bytes)
        } catch {
            throw IngestError(.staging, "cannot write the staging file \(path(xid)): \(error)")
        }
        transaction.fileSize += Int64(transaction.buffer.count)
        transaction.buffer.count = 0
    }

    /// Stream Abort: a subtransaction's changes, and those of every
    /// subtransaction that began after it (its children: a sibling that began
    /// later would have ended it), are dropped; an abort of `xid` itself drops all.
    func abort(_ xid: UInt32, subtransaction: UInt32) throws {
        guard subtransaction != xid else {
            try end(xid)
            return
        }
        guard let transaction = transactions[xid] else { return }
        guard let index = transaction.subtransactions.firstIndex(where: { $0.xid == subtransaction }) else {
            return  // no change of it staged
        }
        let cut = transaction.subtransactions[index].offset
        transaction.records = transaction.subtransactions[index].records
        transaction.subtransactions.removeSubrange(index...)
        transaction.schemas = transaction.schemas.filter { $0.value.offset < cut }
        if cut >= transaction.fileSize {
            transaction.buffer.count = Int(cut - transaction.fileSize)
        } else {
            transaction.buffer.count = 0
            if ftruncate(transaction.descriptor.rawValue, off_t(cut)) != 0 {
                throw IngestError(.staging, "cannot cut the staging file \(path(xid)): \(Errno(rawValue: errno))")
            }
            transaction.fileSize = cut
        }
    }

    /// Reads `xid`'s staged records back in order (Stream Commit), each as a
    /// view of the bytes read (valid during the call).
    func forEachRecord(_ xid: UInt32, _ body: (StagedRecord) throws -> Void) throws {
        guard let transaction = transactions[xid] else { return }
        try flush(transaction, xid)
        var chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
        defer { chunk.deallocate() }
        var position: Int64 = 0
        while position < transaction.fileSize {
            let want = Int(min(Int64(chunk.count), transaction.fileSize - position))
            let read: Int
            do {
                read = try transaction.descriptor.read(
                    fromAbsoluteOffset: position, into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<want]))
            } catch {
                throw IngestError(.staging, "cannot read the staging file \(path(xid)): \(error)")
            }
            let bytes = UnsafeRawBufferPointer(rebasing: chunk[0..<read])
            var local = 0
            var grown = false
            while local < read {
                guard let length = StagedRecord.frameLength(UnsafeRawBufferPointer(rebasing: bytes[local...])), length >= 4
                else { break }
                if length > chunk.count {
                    // One large record: read it alone.
                    chunk.deallocate()
                    chunk = .allocate(byteCount: length, alignment: 8)
                    grown = true
                    break
                }
                guard local + length <= read else { break }
                try body(try StagedRecord(decoding: UnsafeRawBufferPointer(rebasing: bytes[local..<local + length])))
                local += length
            }
            guard local > 0 || grown else {
                throw IngestError(.staging, "the staging file \(path(xid)) ends inside a record")
            }
            position += Int64(local)
        }
    }

    /// Removes `xid`'s staging file (committed, aborted).
    func end(_ xid: UInt32) throws {
        guard let transaction = transactions.removeValue(forKey: xid) else { return }
        try? transaction.descriptor.close()
        unlink(path(xid).string)
    }

    /// Removes every staging file and the directory (the session ends).
    func close() {
        for (xid, transaction) in transactions {
            try? transaction.descriptor.close()
            unlink(path(xid).string)
        }
        transactions = [:]
        rmdir(directory.string)
    }

    /// Removes what a streaming session left in `logDirectory` (a crash).
    static func removeLeftovers(logDirectory: FilePath) {
        removeAll(in: logDirectory.appending(directoryName))
    }

    private static func removeAll(in directory: FilePath) {
        guard let handle = opendir(directory.string) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { unlink(directory.appending(name).string) }
        }
        rmdir(directory.string)
    }

    /// What another process sees of a running ingest: the transactions
    /// staged in `logDirectory` and their bytes (`logd stat`).
    public static func inFlight(logDirectory: FilePath) -> (transactions: Int, bytes: Int64) {
        let directory = logDirectory.appending(directoryName)
        guard let handle = opendir(directory.string) else { return (0, 0) }
        defer { closedir(handle) }
        var count = 0
        var bytes: Int64 = 0
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard name != ".", name != ".." else { continue }
            var info = stat()
            if stat(directory.appending(name).string, &info) == 0 {
                count += 1
                bytes += Int64(info.st_size)
            }
        }
        return (count, bytes)
    }
}

/// One staged change: a `Record` made with a placeholder commit, and its WAL
/// position. Frame layout (little-endian): `[u32 frame length][u8 flags: 1
/// key, 2 value, 4 schema][u32 relation][u32 version][u64 lsn][u32 key
/// length][key][u32 body length][body][u32 table length][table JSON][u16
/// header count]` then per header `[u16 key length][key][i32 value length,
/// -1 for null][value]`; body and table JSON are `ChangeEnvelope.split`'s.
/// Decoded, it is a view of the frame's bytes (valid while they are).
struct StagedRecord {
    var key: UnsafeRawBufferPointer?
    var body: UnsafeRawBufferPointer?
    var tableJSON: UnsafeRawBufferPointer
    var lsn: LSN
    var schema: (relation: UInt32, version: Int)?
    /// The frame's size.
    var byteCount: Int
    /// The headers' part of the frame.
    private var headerBytes: UnsafeRawBufferPointer
    private var headerCount: Int

    /// Appends the frame of `record` to `buffer`: its size first, then one pass of stores.
    static func encode(_ record: Record, lsn: LSN, schema: (relation: UInt32, version: Int)?, into buffer: StagingBuffer) throws {
        var body: ArraySlice<UInt8>?
        var tableJSON: ArraySlice<UInt8> = []
        if let value = record.value {
            guard let parts = ChangeEnvelope.split(value) else {
                throw IngestError(.protocolViolation, "a streamed change's record has no source object")
            }
            body = parts.body
            tableJSON = parts.tableJSON
        }
        var size = 4 + 1 + 4 + 4 + 8 + 4 + (record.key?.count ?? 0) + 4 + (body?.count ?? 0) + 4 + tableJSON.count + 2
        for header in record.headers { size += 2 + header.key.utf8.count + 4 + (header.value?.count ?? 0) }
        var writer = FrameWriter(pointer: buffer.reserve(size))
        writer.put(UInt32(size))
        writer.put(UInt8((record.key == nil ? 0 : 1) | (body == nil ? 0 : 2) | (schema == nil ? 0 : 4)))
        writer.put(schema?.relation ?? 0)
        writer.put(UInt32(schema?.version ?? 0))
        writer.put(lsn.rawValue)
        writer.put(UInt32(record.key?.count ?? 0))
        if let key = record.key { writer.put(key) }
        writer.put(UInt32(body?.count ?? 0))
        if let body { writer.put(body) }
        writer.put(UInt32(tableJSON.count))
        writer.put(tableJSON)
        writer.put(UInt16(record.headers.count))
        for header in record.headers {
            var key = header.key
            key.withUTF8 { utf8 in
                writer.put(UInt16(utf8.count))
                writer.put(UnsafeRawBufferPointer(utf8))
            }
            writer.put(UInt32(bitPattern: Int32(header.value.map { $0.count } ?? -1)))
            if let value = header.value { writer.put(value) }
        }
        assert(writer.offset == size)
        buffer.count += size
    }

    /// Little-endian stores into reserved room.
    private struct FrameWriter {
        let pointer: UnsafeMutableRawPointer
        var offset = 0

        mutating func put<T: FixedWidthInteger>(_ value: T) {
            pointer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
        }

        mutating func put(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress else { return }
            (pointer + offset).copyMemory(from: base, byteCount: bytes.count)
            offset += bytes.count
        }

        mutating func put(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { put($0) }
        }

        mutating func put(_ bytes: ArraySlice<UInt8>) {
            bytes.withUnsafeBytes { put($0) }
        }
    }

    /// The length of the frame that starts `bytes`, when its length field is there.
    static func frameLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var reader = Reader(bytes: bytes)
        return Int(reader.read(UInt32.self))
    }

    /// Decodes one whole frame (written by this process: trusted, but checked).
    init(decoding frame: UnsafeRawBufferPointer) throws {
        var reader = Reader(bytes: frame)
        _ = reader.read(UInt32.self)
        byteCount = frame.count
        let flags = reader.read(UInt8.self)
        let relation = reader.read(UInt32.self)
        let version = reader.read(UInt32.self)
        lsn = LSN(reader.read(UInt64.self))
        let key = reader.bytes(Int(reader.read(UInt32.self)))
        self.key = flags & 1 != 0 ? key : nil
        let body = reader.bytes(Int(reader.read(UInt32.self)))
        self.body = flags & 2 != 0 ? body : nil
        tableJSON = reader.bytes(Int(reader.read(UInt32.self)))
        schema = flags & 4 != 0 ? (relation, Int(version)) : nil
        headerCount = Int(reader.read(UInt16.self))
        let headersStart = reader.position
        for _ in 0..<headerCount {
            _ = reader.bytes(Int(reader.read(UInt16.self)))
            let length = Int32(bitPattern: reader.read(UInt32.self))
            if length >= 0 { _ = reader.bytes(Int(length)) }
        }
        headerBytes = UnsafeRawBufferPointer(rebasing: frame[headersStart..<reader.position])
        guard !reader.overran, reader.position == frame.count else {
            throw IngestError(.staging, "a staged record does not decode (\(frame.count) bytes)")
        }
    }

    /// Each header's key and value (nil: a null value), in order.
    func forEachHeader(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> Void) rethrows {
        var reader = Reader(bytes: headerBytes)
        for _ in 0..<headerCount {
            let key = reader.bytes(Int(reader.read(UInt16.self)))
            let length = Int32(bitPattern: reader.read(UInt32.self))
            try body(key, length < 0 ? nil : reader.bytes(Int(length)))
        }
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        var overran = false

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        mutating func read<T: FixedWidthInteger>(_: T.Type) -> T {
            let size = MemoryLayout<T>.size
            guard position + size <= bytes.count else {
                overran = true
                position = bytes.count
                return 0
            }
            defer { position += size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        }

        mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer {
            guard count >= 0, position + count <= bytes.count else {
                overran = true
                position = bytes.count
                return UnsafeRawBufferPointer(start: nil, count: 0)
            }
            defer { position += count }
            return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
        }
    }
}

/// A transaction's staged bytes not written out yet: raw memory that grows,
/// kept for the transaction's life.
final class StagingBuffer {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes held.
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit { pointer.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }

    /// Room for `size` more bytes after `count`: where to write them (then add `size` to `count`).
    func reserve(_ size: Int) -> UnsafeMutableRawPointer {
        if count + size > capacity {
            let grown = UnsafeMutableRawPointer.allocate(byteCount: max(count + size, capacity * 2), alignment: 8)
            grown.copyMemory(from: pointer, byteCount: count)
            pointer.deallocate()
            pointer = grown
            capacity = max(count + size, capacity * 2)
        }
        return pointer + count
    }
}
