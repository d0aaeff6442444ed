/// Parses one row of `COPY ... TO STDOUT` in text format (PostgreSQL manual,
/// "COPY", "Text Format") into the same `TupleData` pgoutput sends: columns
/// separated by tabs, `\N` for NULL, backslash escapes undone, values in the
/// type's text output format.
public enum CopyTextRow {
    /// - Parameters:
    ///   - row: one CopyData message of a text-format COPY (the trailing
    ///     newline is optional).
    ///   - columnCount: the number of columns the row must have.
    /// - Returns: the values, as slices of one new buffer.
    /// - Throws: `IngestError.protocolViolation` naming the column count or
    ///   the bad escape when the row does not parse.
    public static func parse(_ row: [UInt8], columnCount: Int) throws(IngestError) -> TupleData {
        var bytes = row[...]
        if bytes.last == UInt8(ascii: "\n") { bytes = bytes.dropLast() }
        if columnCount == 0 && bytes.isEmpty { return TupleData(columns: []) }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        // (start, end) in `decoded`, or nil for NULL.
        var ranges: [Range<Int>?] = []
        ranges.reserveCapacity(columnCount)
        var fieldStart = 0
        var index = bytes.startIndex
        var isNull = false
        func endField() {
            ranges.append(isNull ? nil : fieldStart..<decoded.count)
            fieldStart = decoded.count
            isNull = false
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\t"):
                endField()
            case UInt8(ascii: "\\"):
                guard index < bytes.endIndex else {
                    throw IngestError(.protocolViolation, "COPY row ends with a lone backslash")
                }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "N"):
                    // `\N` is NULL only as a whole field.
                    let atFieldEnd = index == bytes.endIndex || bytes[index] == UInt8(ascii: "\t")
                    guard decoded.count == fieldStart, atFieldEnd else {
                        throw IngestError(.protocolViolation, "COPY row has \\N inside a value")
                    }
                    isNull = true
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "v"): decoded.append(0x0B)
                case UInt8(ascii: "0")...UInt8(ascii: "7"):
                    var value = Int(escaped - UInt8(ascii: "0"))
                    var digits = 1
                    while digits < 3, index < bytes.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(bytes[index]) {
                        value = value * 8 + Int(bytes[index] - UInt8(ascii: "0"))
                        index += 1
                        digits += 1
                    }
                    decoded.append(UInt8(truncatingIfNeeded: value))
                case UInt8(ascii: "x"):
                    var value = 0
                    var digits = 0
                    while digits < 2, index < bytes.endIndex, let digit = HexDigit.value(bytes[index]).map(Int.init) {
                        value = value * 16 + digit
                        index += 1
                        digits += 1
                    }
                    if digits == 0 {
                        decoded.append(UInt8(ascii: "x"))
                    } else {
                        decoded.append(UInt8(value))
                    }
                default:
                    decoded.append(escaped)
                }
            default:
                decoded.append(byte)
            }
        }
        endField()
        guard ranges.count == columnCount else {
            throw IngestError(.protocolViolation, "COPY row has \(ranges.count) columns, the table has \(columnCount)")
        }
        return TupleData(columns: ranges.map { range in range.map { .text(decoded[$0]) } ?? .null })
    }
}
