/// JSON string literals (RFC 8259, section 7) from UTF-8 bytes: the one JSON
/// string escaper of the change envelope and of `logd`'s JSON output.
///
/// Escapes `"`, `\` and the control characters U+0000 to U+001F (lower-case
/// hex); copies every other well-formed UTF-8 sequence as it is (no `\u` for
/// non-ASCII, `/` unescaped). Bytes that are not well-formed UTF-8 become
/// U+FFFD, so the output is always valid JSON whatever the input.
///
/// Works on contiguous bytes and appends runs that need no escaping in one
/// copy: no intermediate `String`, no allocation beyond the output's growth.
public enum JSONString {
    /// The details in which the package's two JSON outputs differ. Both are
    /// kept as they are, so that records already stored and `logd read` output
    /// that scripts compare stay byte for byte the same.
    public struct Style: Sendable, Hashable {
        /// Backspace and form feed as `\b` and `\f`; else as `\u0008` and
        /// `\u000c`. A JSON reader sees no difference.
        public var shortEscapesBackspaceAndFormFeed: Bool
        /// One U+FFFD per maximal ill-formed subsequence (Unicode 15, section
        /// 3.9, "U+FFFD Substitution of Maximal Subparts", as Swift's
        /// `String(decoding:as:)` repairs); else one U+FFFD per ill-formed byte.
        public var replacesMaximalSubparts: Bool

        public init(shortEscapesBackspaceAndFormFeed: Bool, replacesMaximalSubparts: Bool) {
            self.shortEscapesBackspaceAndFormFeed = shortEscapesBackspaceAndFormFeed
            self.replacesMaximalSubparts = replacesMaximalSubparts
        }

        /// The change envelope's (docs/CDC.md): `\b`, `\f`, one U+FFFD per
        /// ill-formed byte.
        public static let changeEnvelope = Style(shortEscapesBackspaceAndFormFeed: true, replacesMaximalSubparts: false)
        /// `logd read --format json` and `logd stat --json`: `\u0008`,
        /// `\u000c`, one U+FFFD per maximal ill-formed subsequence.
        public static let commandOutput = Style(shortEscapesBackspaceAndFormFeed: false, replacesMaximalSubparts: true)
    }

    /// Appends `utf8` as a JSON string literal, quotes included.
    ///
    /// - Parameters:
    ///   - utf8: the text's bytes; need not be valid UTF-8.
    ///   - output: where the literal is appended.
    ///   - style: `.changeEnvelope` or `.commandOutput`.
    public static func append(_ utf8: UnsafeBufferPointer<UInt8>, to output: inout [UInt8], style: Style) {
        _ = append(utf8, to: &output, style: style, replacing: true)
    }

    /// Appends `utf8` as a JSON string literal if it is well-formed UTF-8,
    /// and returns true; else appends nothing and returns false (for output
    /// that must not lose a byte: the caller writes it otherwise, as base64).
    public static func appendIfValid(_ utf8: UnsafeRawBufferPointer, to output: inout [UInt8], style: Style) -> Bool {
        utf8.withMemoryRebound(to: UInt8.self) { append($0, to: &output, style: style, replacing: false) }
    }

    /// The one escaping loop: with `replacing` false it stops at the first
    /// ill-formed byte, takes back what it appended and returns false.
    private static func append(
        _ utf8: UnsafeBufferPointer<UInt8>, to output: inout [UInt8], style: Style, replacing: Bool
    ) -> Bool {
        let start = output.count
        output.append(quote)
        let count = utf8.count
        var index = 0
        var runStart = 0
        var pending = Pending()
        let base = UnsafeRawPointer(utf8.baseAddress)
        while index < count {
            // Eight bytes at a time while none of them needs a look of its own (a quote, a
            // backslash, a control character or a non-ASCII byte): most text is such runs.
            if let base {
                while index + 32 <= count {
                    let marks =
                        Self.marks(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                        | Self.marks(base.loadUnaligned(fromByteOffset: index + 8, as: UInt64.self))
                        | Self.marks(base.loadUnaligned(fromByteOffset: index + 16, as: UInt64.self))
                        | Self.marks(base.loadUnaligned(fromByteOffset: index + 24, as: UInt64.self))
                    if marks != 0 { break }
                    index += 32
                }
                while index + 8 <= count, !Self.needsLook(base.loadUnaligned(fromByteOffset: index, as: UInt64.self)) {
                    index += 8
                }
                if index >= count { break }
            }
            // Byte by byte through the eight that need a look (or the tail), to the first to
            // escape or replace; a window with none (a false positive, or well-formed UTF-8)
            // goes back to the word-wide scan.
            let windowEnd = min(count, index + 8)
            var found = false
            while index < windowEnd {
                let byte = utf8[index]
                if byte < 0x80 {
                    if byte >= 0x20 && byte != quote && byte != backslash {
                        index += 1
                        continue
                    }
                } else {
                    let sequence = Self.sequence(in: utf8, at: index)
                    if sequence.isWellFormed {
                        index += sequence.length
                        continue
                    }
                    guard replacing else {
                        output.removeSubrange(start...)
                        return false
                    }
                }
                found = true
                break
            }
            guard found else { continue }
            let byte = utf8[index]
            // A byte to escape or replace: the run before it, then the escape. Short runs and
            // escapes gather in `pending` (one append to `output` for many of them: text that
            // needs an escape every few bytes would otherwise pay an append for each).
            pending.add(UnsafeBufferPointer(rebasing: utf8[runStart..<index]), to: &output)
            if byte < 0x80 {
                pending.addEscape(byte, style: style, to: &output)
                index += 1
            } else {
                pending.addReplacementCharacter(to: &output)
                index += style.replacesMaximalSubparts ? Self.sequence(in: utf8, at: index).length : 1
            }
            runStart = index
        }
        pending.flush(to: &output)
        output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count]))
        output.append(quote)
        return true
    }

    /// Bytes waiting to be appended to the output together: a fixed array, no allocation.
    private struct Pending {
        static let capacity = 128
        var bytes:
            (
                UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                UInt64, UInt64
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0

        mutating func flush(to output: inout [UInt8]) {
            guard count > 0 else { return }
            let used = count
            withUnsafeBytes(of: &bytes) { output.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<used])) }
            count = 0
        }

        /// A run of input: gathered when short, else appended at once (after what is gathered).
        mutating func add(_ run: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
            if run.count > 32 {
                flush(to: &output)
                output.append(contentsOf: run)
                return
            }
            if count + run.count > Self.capacity { flush(to: &output) }
            let at = count
            withUnsafeMutableBytes(of: &bytes) { raw in
                UnsafeMutableRawBufferPointer(rebasing: raw[at..<at + run.count]).copyMemory(from: UnsafeRawBufferPointer(run))
            }
            count += run.count
        }

        mutating func addReplacementCharacter(to output: inout [UInt8]) {
            if count + 3 > Self.capacity { flush(to: &output) }
            let at = count
            withUnsafeMutableBytes(of: &bytes) { raw in
                raw[at] = JSONString.replacementCharacter.0
                raw[at + 1] = JSONString.replacementCharacter.1
                raw[at + 2] = JSONString.replacementCharacter.2
            }
            count += 3
        }

        mutating func addEscape(_ byte: UInt8, style: Style, to output: inout [UInt8]) {
            if count + 6 > Self.capacity { flush(to: &output) }
            let at = count
            count += withUnsafeMutableBytes(of: &bytes) { raw in
                JSONString.writeEscape(byte, style: style, to: raw.baseAddress! + at)
            }
        }
    }

    /// Appends the standard base64 (RFC 4648, padded) of `data` as a JSON string literal.
    public static func appendBase64<C: Collection<UInt8>>(_ data: C, to output: inout [UInt8]) {
        output.append(quote)
        var iterator = data.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let chunk = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            output.append(base64Alphabet[Int(chunk >> 18 & 0x3F)])
            output.append(base64Alphabet[Int(chunk >> 12 & 0x3F)])
            output.append(second == nil ? UInt8(ascii: "=") : base64Alphabet[Int(chunk >> 6 & 0x3F)])
            output.append(third == nil ? UInt8(ascii: "=") : base64Alphabet[Int(chunk & 0x3F)])
        }
        output.append(quote)
    }

    /// Appends raw bytes (say, a record's value) as a JSON string literal.
    public static func append(_ utf8: UnsafeRawBufferPointer, to output: inout [UInt8], style: Style) {
        utf8.withMemoryRebound(to: UInt8.self) { append($0, to: &output, style: style) }
    }

    /// Appends `text` as a JSON string literal.
    public static func append(_ text: String, to output: inout [UInt8], style: Style) {
        var text = text
        text.withUTF8 { append($0, to: &output, style: style) }
    }

    /// Appends `utf8` as a JSON string literal; copies it first only when it
    /// is not contiguous.
    static func append<C: Collection<UInt8>>(_ utf8: C, to output: inout [UInt8], style: Style) {
        let done: Void? = utf8.withContiguousStorageIfAvailable { append($0, to: &output, style: style) }
        if done == nil { Array(utf8).withUnsafeBufferPointer { append($0, to: &output, style: style) } }
    }

    /// Whether `utf8` is entirely well-formed UTF-8.
    static func isValidUTF8(_ utf8: [UInt8]) -> Bool {
        utf8.withUnsafeBufferPointer { isValidUTF8($0) }
    }

    /// Whether `utf8` is entirely well-formed UTF-8.
    static func isValidUTF8(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < utf8.count {
            if utf8[index] < 0x80 {
                index += 1
                continue
            }
            let sequence = Self.sequence(in: utf8, at: index)
            guard sequence.isWellFormed else { return false }
            index += sequence.length
        }
        return true
    }

    // MARK: - Private

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether any byte of `word` is below 0x20, a quote, a backslash or 0x80 and above
    /// (SWAR: a byte's high bit marks it in each term; no false negatives, and the
    /// bytes that are not ASCII are excluded from the subtraction terms by `~word`).
    @inline(__always)
    static func needsLook(_ word: UInt64) -> Bool { marks(word) != 0 }

    /// The high bits that `needsLook` tests: nonzero when some byte needs a look.
    @inline(__always)
    static func marks(_ word: UInt64) -> UInt64 {
        let control = (word &- ones &* 0x20) & ~word
        let quoted = word ^ (ones &* UInt64(quote))
        let escaped = word ^ (ones &* UInt64(backslash))
        let quoteByte = (quoted &- ones) & ~quoted
        let backslashByte = (escaped &- ones) & ~escaped
        return (control | quoteByte | backslashByte | word) & highBits
    }

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    /// U+FFFD in UTF-8.
    private static let replacementCharacter: (UInt8, UInt8, UInt8) = (0xEF, 0xBF, 0xBD)
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
    private static let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Writes the escape of `byte` at `destination` (room for 6 bytes); returns its length.
    fileprivate static func writeEscape(_ byte: UInt8, style: Style, to destination: UnsafeMutableRawPointer) -> Int {
        destination.storeBytes(of: backslash, as: UInt8.self)
        var second: UInt8
        switch byte {
        case quote, backslash: second = byte
        case 0x0A: second = UInt8(ascii: "n")
        case 0x0D: second = UInt8(ascii: "r")
        case 0x09: second = UInt8(ascii: "t")
        case 0x08 where style.shortEscapesBackspaceAndFormFeed: second = UInt8(ascii: "b")
        case 0x0C where style.shortEscapesBackspaceAndFormFeed: second = UInt8(ascii: "f")
        default:
            destination.storeBytes(of: UInt8(ascii: "u"), toByteOffset: 1, as: UInt8.self)
            destination.storeBytes(of: UInt8(ascii: "0"), toByteOffset: 2, as: UInt8.self)
            destination.storeBytes(of: UInt8(ascii: "0"), toByteOffset: 3, as: UInt8.self)
            destination.storeBytes(of: hexDigits[Int(byte >> 4)], toByteOffset: 4, as: UInt8.self)
            destination.storeBytes(of: hexDigits[Int(byte & 0xF)], toByteOffset: 5, as: UInt8.self)
            return 6
        }
        destination.storeBytes(of: second, toByteOffset: 1, as: UInt8.self)
        return 2
    }

    /// At a byte of 0x80 or more: the length of the well-formed sequence
    /// that starts there (Unicode 15, table 3-7), or, when it is ill-formed,
    /// the length of its maximal subpart (the lead byte and the continuation
    /// bytes that fit it before the first that does not; at least 1).
    static func sequence(in utf8: UnsafeBufferPointer<UInt8>, at index: Int) -> (length: Int, isWellFormed: Bool) {
        let continuations: Int
        let second: ClosedRange<UInt8>
        switch utf8[index] {
        case 0xC2...0xDF: (continuations, second) = (1, 0x80...0xBF)
        case 0xE0: (continuations, second) = (2, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (continuations, second) = (2, 0x80...0xBF)
        case 0xED: (continuations, second) = (2, 0x80...0x9F)
        case 0xF0: (continuations, second) = (3, 0x90...0xBF)
        case 0xF1...0xF3: (continuations, second) = (3, 0x80...0xBF)
        case 0xF4: (continuations, second) = (3, 0x80...0x8F)
        default: return (1, false)
        }
        var length = 1
        while length <= continuations {
            let next = index + length
            let range: ClosedRange<UInt8> = length == 1 ? second : 0x80...0xBF
            guard next < utf8.count, range.contains(utf8[next]) else { return (length, false) }
            length += 1
        }
        return (length, true)
    }
}
