import Foundation
import PostgresTestSupport
import Testing

@testable import PostgresCDC

/// JSON text with sorted keys: parsed and expected values compare equal when
/// they are the same JSON.
func canonicalJSON(_ value: Any?) -> String {
    guard let value else { return "absent" }
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) else {
        return "not JSON: \(value)"
    }
    return String(decoding: data, as: UTF8.self)
}

func expectJSON(_ actual: Any?, _ expected: Any?, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(canonicalJSON(actual) == canonicalJSON(expected), sourceLocation: sourceLocation)
}

/// A row change (`c`, `u`, `d`): its table, key, `before`, `after` (nil: JSON
/// null) and `unchanged` (nil: absent).
func expectRow(
    _ record: IngestedRecord, table: String, key: [String: Any], before: [String: Any]?, after: [String: Any]?,
    unchanged: [String]? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(record.table == table, sourceLocation: sourceLocation)
    expectJSON(record.key, key, sourceLocation: sourceLocation)
    expectJSON(record.value["before"], before ?? NSNull(), sourceLocation: sourceLocation)
    expectJSON(record.value["after"], after ?? NSNull(), sourceLocation: sourceLocation)
    expectJSON(record.value["unchanged"], unchanged, sourceLocation: sourceLocation)
}

/// `name type [(base_type)] [key]` of each column of a schema record; empty for other records.
func columnSummary(_ record: IngestedRecord) -> [String] {
    let columns = (record.value["schema"] as? [String: Any])?["columns"] as? [[String: Any]] ?? []
    return columns.map { column in
        "\(column["name"] as? String ?? "?") \(column["type"] as? String ?? "null")"
            + ((column["base_type"] as? String).map { " (\($0))" } ?? "") + (column["key"] as? Bool == true ? " key" : "")
    }
}

/// A logical message record (`m`).
func expectMessage(
    _ record: IngestedRecord, content: String, encoding: String, transactional: Bool,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(record.op == "m", sourceLocation: sourceLocation)
    #expect(record.table == nil && record.keyText == nil, sourceLocation: sourceLocation)
    #expect(record.headers[CDCHeader.messagePrefix] == "ingest_ops", sourceLocation: sourceLocation)
    expectJSON(
        record.value["message"],
        ["prefix": "ingest_ops", "content": content, "content_encoding": encoding, "transactional": transactional],
        sourceLocation: sourceLocation)
}

/// `v|note` of a row of ingest_snapshot, as the server's text output has it.
func rowText(_ row: [String: Any]?) -> String {
    let v = (row?["v"] as? Int).map(String.init) ?? "null"
    return "\(v)|\(row?["note"] as? String ?? "null")"
}
