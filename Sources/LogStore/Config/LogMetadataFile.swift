import SystemPackage

/// Small files an application keeps in a log's directory beside the
/// segments, such as where the log's records come from (`logd ingest
/// postgres` keeps its source there). Written atomically: temp file, fsync,
/// rename, directory fsync. The log itself never reads them.
public enum LogMetadataFile {
    /// Names the log uses itself, which metadata files may not take.
    static let reservedNames: Set<String> = [LogConfig.fileName, Log.lockFileName, Log.cleanShutdownMarker, "groups"]

    /// Replaces the file `name` in the log directory with `bytes`.
    /// - Throws: `.invalidArgument` for a name the log uses itself, `.io` when
    ///   the write fails (the old content is then still whole).
    public static func write(_ bytes: [UInt8], named name: String, in directory: FilePath) throws {
        try validate(name)
        try FileSystem.replaceAtomically(directory.appending(name), with: bytes)
    }

    /// The content of the file `name` in the log directory, nil when there is none.
    public static func read(named name: String, in directory: FilePath) throws -> [UInt8]? {
        try validate(name)
        let path = directory.appending(name)
        guard FileSystem.exists(path) else { return nil }
        return try FileSystem.readFile(path)
    }

    static func validate(_ name: String) throws {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
        guard allowed, !name.isEmpty, name.utf8.count <= 64, !reservedNames.contains(name) else {
            throw LogStoreError(
                .invalidArgument,
                "'\(name)' cannot name a metadata file: use 1-64 of a-z, 0-9, '-', '_', not one of \(reservedNames.sorted())")
        }
    }
}
