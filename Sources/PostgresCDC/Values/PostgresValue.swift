/// Writes a column's value as JSON, typed by its `PostgresValueFormat`. The
/// mapping is the table in docs/CDC.md; a value that does not parse as its
/// type says it should (which Postgres never sends) falls back to its text as
/// a JSON string rather than producing invalid JSON or failing the change.
enum PostgresValue {
    /// Writes a text-format value (`'t'`).
    static func writeText<C: Collection<UInt8>>(_ text: C, format: PostgresValueFormat, to writer: inout JSONWriter)
    where C.Index == Int {
        guard format.isArray else {
            writeScalar(text, format.scalar, to: &writer)
            return
        }
        guard let elements = PostgresArrayParser.parse(text) else {
            writer.string(text)
            return
        }
        writeArray(elements, format.scalar, to: &writer)
    }

    /// Writes a binary-format value (`'b'`, only with `binary 'true'`) as base64.
    static func writeBinary<C: Collection<UInt8>>(_ bytes: C, to writer: inout JSONWriter) {
        writer.base64String(bytes)
    }

    private static func writeArray(
        _ elements: [PostgresArrayElement], _ scalar: PostgresValueFormat.Scalar,
        to writer: inout JSONWriter
    ) {
        writer.byte(UInt8(ascii: "["))
        for (position, element) in elements.enumerated() {
            if position > 0 { writer.byte(UInt8(ascii: ",")) }
            switch element {
            case .null: writer.null()
            case .value(let text): writeScalar(text, scalar, to: &writer)
            case .array(let nested): writeArray(nested, scalar, to: &writer)
            }
        }
        writer.byte(UInt8(ascii: "]"))
    }

    private static func writeScalar<C: Collection<UInt8>>(
        _ text: C, _ scalar: PostgresValueFormat.Scalar,
        to writer: inout JSONWriter
    ) where C.Index == Int {
        switch scalar {
        case .integer, .float:
            // Integers and shortest-exact floats (extra_float_digits >= 1, the
            // default since Postgres 12) are JSON numbers as written; NaN and
            // the infinities are not, so they stay strings.
            if JSONWriter.isJSONNumber(text) {
                writer.raw(text)
            } else {
                writer.string(text)
            }
        case .bool:
            if text.count == 1, text.first == UInt8(ascii: "t") {
                writer.bool(true)
            } else if text.count == 1, text.first == UInt8(ascii: "f") {
                writer.bool(false)
            } else {
                writer.string(text)
            }
        case .json:
            // json and jsonb output is valid JSON by construction (json_in
            // validates); embedded as is, whitespace included.
            if text.isEmpty {
                writer.null()
            } else {
                writer.raw(text)
            }
        case .bytea:
            if let bytes = PostgresBytea.decode(text) {
                writer.base64String(bytes)
            } else {
                writer.string(text)
            }
        case .numeric, .text:
            writer.string(text)
        }
    }
}
