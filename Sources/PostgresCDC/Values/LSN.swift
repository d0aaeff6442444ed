/// A PostgreSQL write-ahead-log position (`XLogRecPtr`): a 64-bit byte
/// position in the WAL, written by Postgres as two hexadecimal halves,
/// `"16/B374D848"` (high 32 bits / low 32 bits, upper case, no padding).
public struct LSN: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    /// The invalid position, `0/0` (`InvalidXLogRecPtr`).
    public static let zero = LSN(rawValue: 0)

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Parses the `"X/X"` form Postgres prints (`pg_current_wal_lsn()`,
    /// `IDENTIFY_SYSTEM`, `CREATE_REPLICATION_SLOT`): one to eight hex digits,
    /// a slash, one to eight hex digits; either letter case.
    ///
    /// - Returns: nil when `text` is not in that form.
    public init?(_ text: some StringProtocol) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        var sawSlash = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "/") {
                guard !sawSlash, digits > 0 else { return nil }
                sawSlash = true
                digits = 0
                continue
            }
            guard let value = HexDigit.value(byte), digits < 8 else { return nil }
            digits += 1
            if sawSlash {
                low = low << 4 | UInt64(value)
            } else {
                high = high << 4 | UInt64(value)
            }
        }
        guard sawSlash, digits > 0 else { return nil }
        self.rawValue = high << 32 | low
    }

    /// `"X/X"`, exactly as Postgres prints it.
    public var description: String {
        String(rawValue >> 32, radix: 16, uppercase: true) + "/"
            + String(rawValue & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// The UTF-8 of `description`.
    public var utf8: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(17)
        Self.appendText(self, to: &bytes)
        return bytes
    }

    /// Appends `description` to `bytes` without making a String.
    static func appendText(_ lsn: LSN, to bytes: inout [UInt8]) {
        // Written into 17 bytes on the stack, then appended at once.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 17) { text in
            var count = 0
            func hex(_ value: UInt64) {
                var shift: UInt64 = 28
                while shift > 0 && (value >> shift) & 0xF == 0 { shift -= 4 }
                while true {
                    let digit = UInt8((value >> shift) & 0xF)
                    text[count] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "A") + digit - 10
                    count += 1
                    if shift == 0 { break }
                    shift -= 4
                }
            }
            hex(lsn.rawValue >> 32)
            text[count] = UInt8(ascii: "/")
            count += 1
            hex(lsn.rawValue & 0xFFFF_FFFF)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[..<count]))
        }
    }

    public static func < (lhs: LSN, rhs: LSN) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
