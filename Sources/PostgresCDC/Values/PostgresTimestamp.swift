/// A `timestamptz` as the replication protocol sends it: microseconds since
/// the PostgreSQL epoch, 2000-01-01 00:00:00 UTC.
public struct PostgresTimestamp: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    public var rawValue: Int64

    /// Microseconds between the Unix epoch and the PostgreSQL epoch.
    public static let unixOffsetMicroseconds: Int64 = 946_684_800_000_000

    public init(rawValue: Int64) {
        self.rawValue = rawValue
    }

    /// A timestamp from microseconds since the Unix epoch (1970-01-01 UTC).
    public init(unixMicroseconds: Int64) {
        self.rawValue = unixMicroseconds &- PostgresTimestamp.unixOffsetMicroseconds
    }

    /// Microseconds since the Unix epoch; wraps instead of trapping on the
    /// (impossible for real commits) extremes of the range.
    public var unixMicroseconds: Int64 {
        rawValue &+ PostgresTimestamp.unixOffsetMicroseconds
    }

    /// Milliseconds since the Unix epoch, rounded down: the unit of
    /// `Record.timestamp`.
    public var unixMilliseconds: Int64 {
        let micros = unixMicroseconds
        return micros >= 0 ? micros / 1000 : (micros - 999) / 1000
    }

    public var description: String { "\(unixMicroseconds)us since 1970" }

    public static func < (lhs: PostgresTimestamp, rhs: PostgresTimestamp) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}
