/// Names of logs and consumer groups become file names: no path tricks.
public enum LogNames {
    /// - Throws: `.invalidArgument` naming what is wrong with `name`.
    public static func validate(_ name: String, what: String) throws {
        func invalid(_ why: String) -> LogStoreError { LogStoreError(.invalidArgument, "\(what) name '\(name)' \(why)") }
        guard !name.isEmpty else { throw LogStoreError(.invalidArgument, "\(what) name is empty") }
        guard !name.hasPrefix(".") else { throw invalid("must not start with '.'") }
        guard !name.contains("/"), !name.contains("\0") else { throw invalid("must not contain '/' or NUL") }
        guard name.utf8.count <= 200 else { throw invalid("is longer than 200 bytes") }
    }
}
