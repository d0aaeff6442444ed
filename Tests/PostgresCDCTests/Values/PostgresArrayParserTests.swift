import LogStore
import Testing

@testable import PostgresCDC

@Suite struct PostgresArrayParserTests {
    private func parse(_ text: String) -> [PostgresArrayElement]? {
        PostgresArrayParser.parse(Array(text.utf8))
    }

    private func value(_ text: String) -> PostgresArrayElement { .value(Array(text.utf8)) }

    @Test func flatIntegersAndNull() {
        #expect(parse("{1,2,NULL}") == [value("1"), value("2"), .null])
    }

    @Test func emptyArray() {
        #expect(parse("{}") == [])
        #expect(parse("{{},{}}") == [.array([]), .array([])])
    }

    @Test func nullIsCaseInsensitiveButQuotedNullIsAString() {
        #expect(parse(#"{null,Null,"NULL",NULLS}"#) == [.null, .null, value("NULL"), value("NULLS")])
    }

    @Test func escapedNullIsAString() {
        #expect(parse(#"{\NULL}"#) == [value("NULL")])
    }

    @Test func quotedElementsKeepCommasBracesAndSpaces() {
        #expect(parse(#"{"a,b","{c}"," d ",""}"#) == [value("a,b"), value("{c}"), value(" d "), value("")])
    }

    @Test func backslashesAndQuotesInsideQuotes() {
        #expect(parse(#"{"say \"hi\"","back\\slash","\x"}"#) == [value(#"say "hi""#), value(#"back\slash"#), value("x")])
    }

    @Test func whitespaceAroundElementsIsIgnored() {
        #expect(parse(" { 1 , two words ,\t3 } ") == [value("1"), value("two words"), value("3")])
    }

    @Test func escapedTrailingSpaceIsKept() {
        #expect(parse(#"{a\ }"#) == [value("a ")])
    }

    @Test func nestedArrays() {
        #expect(parse("{{1,2},{3,NULL}}") == [.array([value("1"), value("2")]), .array([value("3"), .null])])
        #expect(parse(#"{{{"x"}}}"#) == [.array([.array([value("x")])])])
    }

    @Test func dimensionDecorationIsDropped() {
        #expect(parse("[0:2]={7,8,9}") == [value("7"), value("8"), value("9")])
        #expect(parse("[1:1][-2:-1]={{a,b}}") == [.array([value("a"), value("b")])])
    }

    @Test func unicodeElements() {
        #expect(parse(#"{"日本",ü}"#) == [value("日本"), value("ü")])
    }

    @Test(arguments: [
        "", "{", "}", "1,2", "{1,2", "{1,,2}", "{,}", "{1}}", "{1} x", #"{"a}"#, #"{a"b}"#, "{a{b}}",
        #"{a\"#, "{{1},2", "[0:1]{1}", "[x]={1}", String(repeating: "{", count: 40) + String(repeating: "}", count: 40),
    ])
    func malformedLiteralsAreRejected(text: String) {
        #expect(parse(text) == nil)
    }

    @Test func randomInputNeverCrashes() {
        var random = SeededGenerator(seed: 99)
        let alphabet = Array(#"{},"\ aN1[]:="#.utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<24, using: &random)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &random) ?? 0 }
            _ = PostgresArrayParser.parse(bytes)
        }
    }
}
