/// Appends compact JSON to a byte buffer by hand: exact output, no
/// Foundation, no intermediate strings. The caller is responsible for the
/// structure (commas, braces); this type gets the tokens right.
struct JSONWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func byte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// ASCII punctuation or a literal (`{"op":`, `null`, ...), written as is.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Bytes already known to be valid JSON (a number, a `json` value).
    mutating func raw(_ bytes: some Sequence<UInt8>) {
        self.bytes.append(contentsOf: bytes)
    }

    mutating func null() { raw("null") }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    mutating func integer(_ value: some BinaryInteger) {
        if let small = Int64(exactly: value) {
            decimal(small)
        } else {
            raw(String(value).utf8)
        }
    }

    /// Decimal digits without an intermediate String (the per-record hot path).
    mutating func decimal(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var count = 0
            repeat {
                digits[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[(20 - count)...]))
        }
    }

    /// An LSN as a JSON string, `"X/X"` as Postgres prints it.
    mutating func lsn(_ lsn: LSN) {
        bytes.append(UInt8(ascii: "\""))
        LSN.appendText(lsn, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func string(_ text: String) {
        JSONString.append(text, to: &bytes, style: .changeEnvelope)
    }

    /// A JSON string from UTF-8 bytes (`JSONString`, envelope style):
    /// replaces bytes that are not valid UTF-8 with U+FFFD so the output is
    /// always valid JSON (Postgres sends valid UTF-8 when the client encoding
    /// is UTF8; a SQL_ASCII database may not).
    mutating func string<C: Collection<UInt8>>(_ utf8: C) {
        JSONString.append(utf8, to: &bytes, style: .changeEnvelope)
    }

    /// A JSON string holding the standard base64 (RFC 4648, padded) of `data`.
    mutating func base64String<C: Collection<UInt8>>(_ data: C) {
        JSONString.appendBase64(data, to: &bytes)
    }

    /// Whether `text` is a number by the JSON grammar (RFC 8259 section 6):
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    static func isJSONNumber<C: Collection<UInt8>>(_ text: C) -> Bool where C.Index == Int {
        var index = text.startIndex
        let end = text.endIndex
        func digits(_ index: inout Int) -> Int {
            let start = index
            while index < end, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[index]) { index += 1 }
            return index - start
        }
        if index < end, text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < end else { return false }
        if text[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits(&index) == 0 {
            return false
        }
        if index < end, text[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&index) > 0 else { return false }
        }
        if index < end, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            if index < end, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&index) > 0 else { return false }
        }
        return index == end
    }

    /// Whether `utf8` is entirely well-formed UTF-8.
    static func isValidUTF8<C: Collection<UInt8>>(_ utf8: C) -> Bool {
        utf8.withContiguousStorageIfAvailable { JSONString.isValidUTF8($0) } ?? JSONString.isValidUTF8(Array(utf8))
    }

}
