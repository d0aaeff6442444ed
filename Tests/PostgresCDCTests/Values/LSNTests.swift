import LogStore
import Testing

@testable import PostgresCDC

@Suite struct LSNTests {
    @Test(arguments: [
        (UInt64(0), "0/0"),
        (0x16_B374_D848, "16/B374D848"),
        (0x0000_0001_0000_0000, "1/0"),
        (0xFFFF_FFFF, "0/FFFFFFFF"),
        (UInt64.max, "FFFFFFFF/FFFFFFFF"),
        (0x1234_5678_0000_00AB, "12345678/AB"),
    ])
    func formatsAsPostgresDoes(raw: UInt64, text: String) {
        #expect(LSN(raw).description == text)
        #expect(LSN(raw).utf8 == Array(text.utf8), "the bytes envelopes and headers are written with")
        #expect(LSN(text) == LSN(raw))
    }

    @Test func parsesLowerCaseAndLeadingZeros() {
        #expect(LSN("16/b374d848") == LSN(0x16_B374_D848))
        #expect(LSN("00000016/0000000A") == LSN(0x16_0000_000A))
    }

    @Test(arguments: [
        "", "/", "0/", "/0", "0", "0//0", "1/2/3", "G/0", "0/G", "123456789/0", "0/123456789", " 0/0",
        "0/0 ", "-1/0", "0x1/0",
    ])
    func rejectsMalformedText(text: String) {
        #expect(LSN(text) == nil)
    }

    @Test func roundTripsRandomValues() {
        var random = SeededGenerator(seed: 42)
        for _ in 0..<10_000 {
            let lsn = LSN(random.next() >> UInt64.random(in: 0...63, using: &random))
            #expect(LSN(lsn.description) == lsn)
            #expect(lsn.utf8 == Array(lsn.description.utf8))
        }
    }

    @Test func ordersByPosition() {
        #expect(LSN("0/FFFFFFFF") ?? .zero < LSN("1/0") ?? .zero)
        #expect(LSN.zero < LSN(1))
    }

    @Test func timestampsConvertFromThePostgresEpoch() {
        #expect(PostgresTimestamp(rawValue: 0).unixMicroseconds == 946_684_800_000_000)
        #expect(PostgresTimestamp(rawValue: 0).unixMilliseconds == 946_684_800_000)
        #expect(
            PostgresTimestamp(unixMicroseconds: 1_700_000_000_123_456).rawValue == 1_700_000_000_123_456 - 946_684_800_000_000)
        #expect(PostgresTimestamp(unixMicroseconds: -1).unixMilliseconds == -1)
    }
}
