/// Decodes the text output of `bytea`: the hex format (`\x0a1b`, the default
/// since Postgres 9.0) and the escape format (`bytea_output = 'escape'`).
enum PostgresBytea {
    /// - Returns: the bytes, or nil when `text` is in neither format.
    static func decode<C: Collection<UInt8>>(_ text: C) -> [UInt8]? where C.Index == Int {
        let start = text.startIndex
        if text.count >= 2, text[start] == UInt8(ascii: "\\"), text[start + 1] == UInt8(ascii: "x") {
            return decodeHex(text[(start + 2)...])
        }
        return decodeEscape(text)
    }

    private static func decodeHex<S: Collection<UInt8>>(_ text: S) -> [UInt8]? where S.Index == Int {
        var output: [UInt8] = []
        output.reserveCapacity(text.count / 2)
        var high: UInt8?
        for byte in text {
            // byteain accepts whitespace between pairs; byteaout never writes it.
            if byte == UInt8(ascii: " ") || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                guard high == nil else { return nil }
                continue
            }
            guard let nibble = HexDigit.value(byte) else { return nil }
            if let first = high {
                output.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? output : nil
    }

    private static func decodeEscape<C: Collection<UInt8>>(_ text: C) -> [UInt8]? where C.Index == Int {
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                index += 1
                continue
            }
            if index + 1 < text.endIndex, text[index + 1] == UInt8(ascii: "\\") {
                output.append(byte)
                index += 2
                continue
            }
            guard index + 3 < text.endIndex,
                let a = octalValue(text[index + 1]), a <= 3,
                let b = octalValue(text[index + 2]),
                let c = octalValue(text[index + 3])
            else { return nil }
            output.append(a << 6 | b << 3 | c)
            index += 4
        }
        return output
    }

    private static func octalValue(_ byte: UInt8) -> UInt8? {
        (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(byte) ? byte - UInt8(ascii: "0") : nil
    }
}
