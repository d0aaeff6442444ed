import Foundation
import LogStore
import Testing

@testable import PostgresCDC

/// `JSONText.appendMinified`: exactly one JSON value in, the same value out
/// without whitespace between tokens; anything else refused with nothing appended.
@Suite struct JSONTextTests {
    static func minified(_ text: String) -> String? {
        var output: [UInt8] = [0x2A]
        let accepted = Array(text.utf8).withUnsafeBytes { JSONText.appendMinified($0, to: &output) }
        #expect(accepted || output == [0x2A], "a refusal appends nothing")
        return accepted ? String(decoding: output.dropFirst(), as: UTF8.self) : nil
    }

    @Test(
        arguments: [
            (
                " { \"a\" : [ 1 , -2.5E+3 , true , false , null ] ,\n\t\"b\\\"\" : { } , \"c\" : [ ] } ",
                #"{"a":[1,-2.5E+3,true,false,null],"b\"":{},"c":[]}"#
            ),
            ("\"é \\u00e9 \\n\"", "\"é \\u00e9 \\n\""), ("0", "0"), ("-0.0e-0", "-0.0e-0"), ("[[[]]]", "[[[]]]"),
        ])
    func acceptsAndMinifies(input: String, expected: String) {
        #expect(Self.minified(input) == expected)
    }

    @Test(
        arguments: [
            "", " ", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "01", "1.", ".5", "+1", "1e", "tru", "nul", "[1] [2]", "\"a",
            "\"\u{01}\"", "\"\\x\"", "\"\\u12g4\"", "{1:2}", "[1 2]", "nan", "'a'",
        ])
    func refuses(input: String) {
        #expect(Self.minified(input) == nil, "\(input)")
    }

    @Test func refusesBadUTF8AndTooDeepNesting() {
        var output: [UInt8] = []
        #expect(![0x22, 0xFF, 0x22].withUnsafeBytes { JSONText.appendMinified($0, to: &output) })
        let deep = String(repeating: "[", count: JSONText.maxDepth + 1) + String(repeating: "]", count: JSONText.maxDepth + 1)
        #expect(Self.minified(deep) == nil)
        let limit = String(repeating: "[", count: JSONText.maxDepth) + String(repeating: "]", count: JSONText.maxDepth)
        #expect(Self.minified(limit) == limit)
    }

    @Test("random documents: minified, they parse to what the pretty-printed text parses to")
    func randomDocuments() throws {
        var random = SeededGenerator(seed: 0x4A_5458)
        func value(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &random) {
            case 0: return Int.random(in: -1_000_000...1_000_000, using: &random)
            case 1:
                return String(
                    (0..<Int.random(in: 0..<8, using: &random)).map { _ in "aé\"\\\n\t€😀 {}[],:".randomElement(using: &random)! })
            case 2: return Bool.random(using: &random)
            case 3: return NSNull()
            case 4: return (0..<Int.random(in: 0..<4, using: &random)).map { _ in value(depth + 1) }
            default:
                return Dictionary(
                    uniqueKeysWithValues: (0..<Int.random(in: 0..<4, using: &random)).map { ("k\($0)", value(depth + 1)) })
            }
        }
        for _ in 0..<500 {
            let document = [value(0)]
            let pretty = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .fragmentsAllowed])
            let text = String(decoding: pretty, as: UTF8.self)
            let minified = try #require(Self.minified(text), "\(text)")
            #expect(!minified.contains("\n"), "one line: \(minified)")
            let again = try JSONSerialization.jsonObject(with: Data(minified.utf8), options: [.fragmentsAllowed])
            let original = try JSONSerialization.jsonObject(with: pretty, options: [.fragmentsAllowed])
            #expect((again as? NSArray) == (original as? NSArray), "\(text) -> \(minified)")
        }
    }
}
