/// Names of logs and consumer groups become file names: no path tricks.
public enum LogNames {
    /// The longest log name: Kafka's longest topic name, so that every topic can be a log.
    public static let maxBytes = 249
    /// The longest consumer group name: with the suffixes of its file (`.offset.tmp`) it stays
    /// within a file name's 255 bytes.
    public static let maxGroupBytes = 200

    /// - Throws: `.invalidArgument` naming what is wrong with `name`.
    public static func validate(_ name: String, what: String, maxBytes: Int = maxBytes) throws {
        func invalid(_ why: String) -> LogStoreError { LogStoreError(.invalidArgument, "\(what) name '\(name)' \(why)") }
        guard !name.isEmpty else { throw LogStoreError(.invalidArgument, "\(what) name is empty") }
        guard !name.hasPrefix(".") else { throw invalid("must not start with '.'") }
        guard !name.contains("/"), !name.contains("\0") else { throw invalid("must not contain '/' or NUL") }
        guard name.utf8.count <= maxBytes else { throw invalid("is longer than \(maxBytes) bytes") }
    }
}
