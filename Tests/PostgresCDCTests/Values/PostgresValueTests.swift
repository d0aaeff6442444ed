import Foundation
import LogStore
import Testing

@testable import PostgresCDC

/// The type mapping of docs/CDC.md: each case writes one value and checks
/// the exact JSON and what a JSON parser makes of it.
@Suite struct PostgresValueTests {
    private func json(_ text: String, oid: UInt32, typeName: String? = nil) -> String {
        var writer = JSONWriter()
        PostgresValue.writeText(Array(text.utf8), format: .forType(oid: oid, typeName: typeName), to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Parses `[value]` so that scalars need no fragment support.
    private func parsed(_ text: String, oid: UInt32, typeName: String? = nil) throws -> Any {
        let array = try #require(try parseJSON(Array("[\(json(text, oid: oid, typeName: typeName))]".utf8)) as? [Any])
        return try #require(array.first)
    }

    @Test(arguments: [
        ("0", UInt32(21)), ("-32768", 21), ("2147483647", 23), ("-9223372036854775808", 20), ("9223372036854775807", 20),
        ("4294967295", 26), ("12345", 28),
    ])
    func integersAreExactNumbers(text: String, oid: UInt32) throws {
        #expect(json(text, oid: oid) == text)
        let number = try #require(try parsed(text, oid: oid) as? NSNumber)
        #expect(number.stringValue == text)
    }

    @Test(arguments: ["1.5", "-0", "1e+100", "1.2345e-05", "3.4028235e+38", "0.1"])
    func floatsAreNumbers(text: String) throws {
        #expect(json(text, oid: 701) == text)
        #expect(json(text, oid: 700) == text)
        let number = try #require(try parsed(text, oid: 701) as? NSNumber)
        #expect(number.doubleValue == Double(text))
    }

    @Test(arguments: ["NaN", "Infinity", "-Infinity"])
    func nonFiniteFloatsAreStrings(text: String) throws {
        #expect(json(text, oid: 701) == "\"\(text)\"")
        #expect(try parsed(text, oid: 700) as? String == text)
    }

    @Test func bools() throws {
        #expect(json("t", oid: 16) == "true")
        #expect(json("f", oid: 16) == "false")
        #expect(try parsed("t", oid: 16) as? Bool == true)
        #expect(try parsed("f", oid: 16) as? Bool == false)
    }

    @Test(arguments: ["123456789012345678901234567890.000000000000000001", "-0.5", "NaN", "Infinity", "0"])
    func numericIsAnExactString(text: String) throws {
        #expect(json(text, oid: 1700) == "\"\(text)\"")
        #expect(try parsed(text, oid: 1700) as? String == text)
    }

    @Test func jsonAndJsonbAreEmbedded() throws {
        let document = #"{"a": [1, 2.5, null, "x"], "b": {"c": true}}"#
        #expect(json(document, oid: 3802) == document)
        #expect(json(document, oid: 114) == document)
        let object = try #require(try parsed(document, oid: 3802) as? [String: Any])
        #expect((object["a"] as? [Any])?.count == 4)
        #expect((object["b"] as? [String: Any])?["c"] as? Bool == true)
        #expect(json("42", oid: 3802) == "42")
        #expect(json(#""s""#, oid: 114) == #""s""#)
    }

    @Test func byteaHexBecomesBase64() throws {
        #expect(json(#"\x"#, oid: 17) == #""""#)
        #expect(json(#"\x00ff10"#, oid: 17) == #""AP8Q""#)
        #expect(json(#"\x68656c6c6f"#, oid: 17) == #""aGVsbG8=""#)
        let base64 = try #require(try parsed(#"\xdeadbeef"#, oid: 17) as? String)
        #expect(Data(base64Encoded: base64) == Data([0xDE, 0xAD, 0xBE, 0xEF]))
    }

    @Test func byteaEscapeFormatBecomesBase64() {
        #expect(
            json(#"ab\\c\000\377"#, oid: 17) == "\"" + Data([0x61, 0x62, 0x5C, 0x63, 0x00, 0xFF]).base64EncodedString() + "\"")
    }

    @Test(arguments: [
        ("hello", UInt32(25)), ("a \"quoted\" \\ path", 1043), ("line\nbreak\ttab\r\u{1}", 25),
        ("550e8400-e29b-41d4-a716-446655440000", 2950), ("2024-02-29", 1082), ("2024-02-29 13:45:00.123456", 1114),
        ("2024-02-29 13:45:00.123456+00", 1184), ("happy", 90_001), ("日本語 ✓ 🎉", 25), ("$1,234.50", 790),
        ("1 day 02:03:04", 1186), ("192.168.0.1/24", 869), ("padded   ", 1042),
    ])
    func everythingElseIsAString(text: String, oid: UInt32) throws {
        #expect(try parsed(text, oid: oid) as? String == text)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(json("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}", oid: 25) == #""a\"b\\c\n\r\t\b\f\u0001\u001f""#)
    }

    @Test func invalidUTF8IsReplacedNotPassedThrough() throws {
        var writer = JSONWriter()
        PostgresValue.writeText([0x61, 0xFF, 0x62, 0xC3], format: .forType(oid: 25), to: &writer)
        #expect(writer.bytes == Array("\"a\u{FFFD}b\u{FFFD}\"".utf8))
    }

    @Test func arraysOfIntegersFloatsAndBools() throws {
        #expect(json("{1,2,NULL}", oid: 1007) == "[1,2,null]")
        #expect(json("{{1,2},{3,4}}", oid: 1016) == "[[1,2],[3,4]]")
        #expect(json("{1.5,NaN,-Infinity}", oid: 1022) == #"[1.5,"NaN","-Infinity"]"#)
        #expect(json("{t,f,NULL}", oid: 1000) == "[true,false,null]")
        #expect(json("{}", oid: 1007) == "[]")
        let nested = try #require(try parsed("{{1,2},{3,NULL}}", oid: 1007) as? [[Any]])
        #expect(nested[0].compactMap { ($0 as? NSNumber)?.intValue } == [1, 2])
        #expect(nested[1][1] is NSNull)
    }

    @Test func arraysOfTextNumericJsonAndBytea() throws {
        #expect(json(#"{"a b","c,d","NULL",NULL,"q\"x"}"#, oid: 1009) == #"["a b","c,d","NULL",null,"q\"x"]"#)
        #expect(json("{1.10,NaN}", oid: 1231) == #"["1.10","NaN"]"#)
        #expect(json(#"{"{\"a\": 1}","[2]"}"#, oid: 3807) == #"[{"a": 1},[2]]"#)
        #expect(json(#"{"\\x0102",NULL}"#, oid: 1001) == #"["AQI=",null]"#)
        let texts = try #require(try parsed(#"{"back\\slash","x"}"#, oid: 1015) as? [String])
        #expect(texts == [#"back\slash"#, "x"])
    }

    @Test func arraysOfAnnouncedTypesAreStringArrays() {
        #expect(json("{happy,sad}", oid: 90_002, typeName: "_mood") == #"["happy","sad"]"#)
        #expect(json("{happy,sad}", oid: 90_002, typeName: "mood") == #""{happy,sad}""#)
    }

    @Test func malformedArrayTextFallsBackToAString() {
        #expect(json("{1,2", oid: 1007) == #""{1,2""#)
    }

    @Test func malformedNumbersAndBoolsFallBackToStrings() {
        #expect(json("12abc", oid: 23) == #""12abc""#)
        #expect(json("", oid: 23) == #""""#)
        #expect(json("yes", oid: 16) == #""yes""#)
        #expect(json("0x1F", oid: 20) == #""0x1F""#)
        #expect(json("01", oid: 20) == #""01""#)
    }

    @Test func base64MatchesFoundationForEveryLength() {
        var random = SeededGenerator(seed: 3)
        for length in 0..<64 {
            let data = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            var writer = JSONWriter()
            writer.base64String(data)
            #expect(writer.bytes == Array(("\"" + Data(data).base64EncodedString() + "\"").utf8))
        }
    }

    @Test(arguments: [
        ("0", true), ("-0", true), ("1.0e-3", true), ("1E5", true), ("-", false), ("1.", false), (".5", false),
        ("1e", false), ("+1", false), ("00", false), ("1 ", false), ("NaN", false),
    ])
    func jsonNumberGrammar(text: String, valid: Bool) {
        #expect(JSONWriter.isJSONNumber(Array(text.utf8)) == valid)
    }
}
