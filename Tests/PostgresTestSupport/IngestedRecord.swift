import Foundation
import LogStore
import PostgresCDC

/// A record of an ingested log with its headers collected and its key and
/// value parsed (docs/CDC.md, "Records"): what the ingest tests of both the
/// library and the `logd` binary look at.
public struct IngestedRecord {
    public let offset: Int64
    public let timestamp: Int64
    /// The last value of each header.
    public let headers: [String: String]
    public let keyText: String?
    /// The key as parsed JSON (a `[String: Any]` for a row's key), nil when there is none.
    public let key: Any?
    public let valueText: String
    /// The envelope; empty for a tombstone.
    public let value: [String: Any]
    /// A null value: the tombstone that follows a delete (docs/CDC.md).
    public let isTombstone: Bool

    /// - Throws: `IngestedRecordError` when the key or value is not JSON, or
    ///   the value not a JSON object.
    public init(_ stored: StoredRecord) throws {
        isTombstone = stored.value == nil
        offset = stored.offset
        timestamp = stored.timestamp
        var headers: [String: String] = [:]
        for header in stored.headers { headers[header.key] = header.value.map { String(decoding: $0, as: UTF8.self) } }
        self.headers = headers
        keyText = stored.key.map { String(decoding: $0, as: UTF8.self) }
        key = try stored.key.map { try Self.parseJSON($0, offset: stored.offset) }
        valueText = stored.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
        if let bytes = stored.value {
            guard let object = try Self.parseJSON(bytes, offset: stored.offset) as? [String: Any] else {
                throw IngestedRecordError("record \(stored.offset): the value is not a JSON object: \(valueText)")
            }
            value = object
        } else {
            value = [:]
        }
    }

    /// Every record of `log`, in offset order.
    public static func all(in log: Log) throws -> [IngestedRecord] {
        var records: [IngestedRecord] = []
        var offset = log.lowestOffset
        while offset < log.nextOffset {
            let batch = try log.read(from: offset, maxRecords: 4096)
            guard let last = batch.last else { break }
            records += try batch.map(IngestedRecord.init)
            offset = last.offset + 1
        }
        return records
    }

    public var op: String { headers[CDCHeader.operation] ?? "" }
    public var table: String? { headers[CDCHeader.table] }
    public var commitLSN: LSN? { headers[CDCHeader.commitLSN].flatMap { LSN($0) } }
    public var ordinal: Int? { headers[CDCHeader.transactionOrdinal].flatMap { Int($0) } }
    public var sequence: Int? { headers[CDCHeader.transactionSequence].flatMap { Int($0) } }
    /// The key as a JSON object, nil when there is none.
    public var keyObject: [String: Any]? { key as? [String: Any] }
    public var before: [String: Any]? { value["before"] as? [String: Any] }
    public var after: [String: Any]? { value["after"] as? [String: Any] }
    public var source: [String: Any] { value["source"] as? [String: Any] ?? [:] }

    private static func parseJSON(_ bytes: [UInt8], offset: Int64) throws -> Any {
        do {
            return try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw IngestedRecordError("record \(offset): not JSON: \(String(decoding: bytes, as: UTF8.self))")
        }
    }
}

/// A record that is not what `logd ingest postgres` writes.
public struct IngestedRecordError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
