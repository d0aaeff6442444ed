import Foundation
import Testing

@testable import PostgresCDC

/// Builds pgoutput messages byte by byte, as the walsender would, so that the
/// decoder can be tested without a server. Test-only: the ingester never
/// encodes pgoutput.
final class PgOutputBuilder {
    var bytes: [UInt8] = []

    init(tag: Character) {
        bytes.append(UInt8(ascii: tag.unicodeScalars.first ?? "?"))
    }

    @discardableResult
    func int8(_ value: UInt8) -> PgOutputBuilder {
        bytes.append(value)
        return self
    }

    @discardableResult
    func char(_ value: Character) -> PgOutputBuilder {
        int8(UInt8(ascii: value.unicodeScalars.first ?? "?"))
    }

    @discardableResult
    func int16(_ value: Int16) -> PgOutputBuilder { bigEndian(UInt16(bitPattern: value)) }
    @discardableResult
    func int32(_ value: Int32) -> PgOutputBuilder { bigEndian(UInt32(bitPattern: value)) }
    @discardableResult
    func uint32(_ value: UInt32) -> PgOutputBuilder { bigEndian(value) }
    @discardableResult
    func int64(_ value: Int64) -> PgOutputBuilder { bigEndian(UInt64(bitPattern: value)) }
    @discardableResult
    func uint64(_ value: UInt64) -> PgOutputBuilder { bigEndian(value) }

    @discardableResult
    func string(_ value: String) -> PgOutputBuilder {
        bytes.append(contentsOf: value.utf8)
        bytes.append(0)
        return self
    }

    @discardableResult
    func raw(_ value: [UInt8]) -> PgOutputBuilder {
        bytes.append(contentsOf: value)
        return self
    }

    /// TupleData: `nil` is `'n'`, `.unchanged` is `'u'`, text is `'t'`.
    @discardableResult
    func tuple(_ values: [TestValue]) -> PgOutputBuilder {
        int16(Int16(values.count))
        for value in values {
            switch value {
            case .null: char("n")
            case .unchanged: char("u")
            case .text(let text):
                char("t")
                int32(Int32(text.utf8.count))
                bytes.append(contentsOf: text.utf8)
            case .binary(let data):
                char("b")
                int32(Int32(data.count))
                bytes.append(contentsOf: data)
            }
        }
        return self
    }

    @discardableResult
    private func bigEndian<T: FixedWidthInteger>(_ value: T) -> PgOutputBuilder {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        return self
    }
}

enum TestValue: ExpressibleByStringLiteral {
    case null
    case unchanged
    case text(String)
    case binary([UInt8])

    init(stringLiteral value: String) { self = .text(value) }

    var tupleValue: TupleValue {
        switch self {
        case .null: .null
        case .unchanged: .unchangedToast
        case .text(let text): .text(Array(text.utf8)[...])
        case .binary(let data): .binary(data[...])
        }
    }
}

func tuple(_ values: [TestValue]) -> TupleData {
    TupleData(columns: values.map(\.tupleValue))
}

/// Parses JSON bytes with Foundation (test-side only) into plain values.
func parseJSON(_ bytes: [UInt8]?) throws -> Any {
    let data = Data(try #require(bytes))
    return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
}

func parseObject(_ bytes: [UInt8]?) throws -> [String: Any] {
    try #require(try parseJSON(bytes) as? [String: Any])
}
