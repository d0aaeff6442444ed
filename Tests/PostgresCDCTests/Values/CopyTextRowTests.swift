import Testing

@testable import PostgresCDC

@Suite("COPY text rows")
struct CopyTextRowTests {
    private func texts(_ tuple: TupleData) -> [String?] {
        tuple.columns.map { value in
            switch value {
            case .text(let bytes): String(decoding: bytes, as: UTF8.self)
            case .null: nil
            case .unchangedToast, .binary: "?"
            }
        }
    }

    @Test("tabs separate columns, \\N is NULL, escapes are undone")
    func escapes() throws {
        let row = Array("1\t\\N\ta\\tb\\nc\\\\d\t\\101\\x42\\q\t\n".utf8)
        let tuple = try CopyTextRow.parse(row, columnCount: 5)
        #expect(texts(tuple) == ["1", nil, "a\tb\nc\\d", "ABq", ""])
    }

    @Test("an empty string is not NULL; \\N inside a value is an error; the column count must match")
    func edgeCases() throws {
        #expect(texts(try CopyTextRow.parse(Array("\t\n".utf8), columnCount: 2)) == ["", ""])
        #expect(texts(try CopyTextRow.parse(Array("\n".utf8), columnCount: 0)) == [])
        #expect(throws: IngestError.self) { try CopyTextRow.parse(Array("a\\Nb\n".utf8), columnCount: 1) }
        #expect(throws: IngestError.self) { try CopyTextRow.parse(Array("a\tb\n".utf8), columnCount: 3) }
        #expect(throws: IngestError.self) { try CopyTextRow.parse(Array("a\\".utf8), columnCount: 1) }
    }

    @Test("random bytes never crash the parser")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("\\\tN\nx0179aF".utf8) + [0, 0xFF]
        for _ in 0..<20_000 {
            let row = (0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            _ = try? CopyTextRow.parse(row, columnCount: Int.random(in: 0...4, using: &generator))
        }
    }
}
