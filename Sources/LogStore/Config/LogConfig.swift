import SystemPackage

/// Per-log settings, stored in `<log>/config` as `key=value` lines and
/// replaced atomically (temp file, fsync, rename, directory fsync).
///
/// | key | meaning |
/// |---|---|
/// | `retention.bytes` | delete the oldest segments while the log is larger (`-1`: no limit) |
/// | `retention.ms` | delete segments whose newest record is older than this (`-1`: no limit) |
/// | `segment.bytes` | roll segments at this size |
/// | `compression.type` | `none` or `gzip`: how appended batches are compressed |
/// | `compression.gzip.level` | 1 (fastest, the default) ... 9 (smallest) |
/// | `cleanup.policy` | `delete` (retention only) or `compact` (also keep only the latest record per key) |
/// | `delete.retention.ms` | how long compaction keeps tombstones (default 86400000) |
/// | `max.message.bytes` | the largest record batch a Kafka producer may append (default 67108864, `Log.maxBatchBytes`) |
///
/// Settings take effect when the log is next opened for writing.
public struct LogConfig: Sendable, Equatable {
    public var retentionBytes: Int64?
    public var retentionMilliseconds: Int64?
    public var segmentBytes: Int64?
    public var compressionType: CompressionType?
    public var gzipLevel: Int?
    public var cleanupPolicy: CleanupPolicy?
    public var deleteRetentionMilliseconds: Int64?
    public var maxMessageBytes: Int64?

    /// `compression.type` values.
    public enum CompressionType: String, Sendable, CaseIterable {
        case none, gzip
    }

    public static let keys = [
        "retention.bytes", "retention.ms", "segment.bytes", "compression.type", "compression.gzip.level", "cleanup.policy",
        "delete.retention.ms", "max.message.bytes",
    ]
    static let fileName = "config"

    public init(retentionBytes: Int64? = nil, retentionMilliseconds: Int64? = nil, segmentBytes: Int64? = nil) {
        self.retentionBytes = retentionBytes
        self.retentionMilliseconds = retentionMilliseconds
        self.segmentBytes = segmentBytes
    }

    /// The stored settings of the log in `directory` (none when it has no config file).
    /// - Throws: `.invalidArgument` naming the line of a damaged or hand-edited file that does not parse.
    public static func load(logDirectory directory: FilePath) throws -> LogConfig {
        let path = directory.appending(fileName)
        guard FileSystem.exists(path) else { return LogConfig() }
        let text = String(decoding: try FileSystem.readFile(path), as: UTF8.self)
        var config = LogConfig()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw LogStoreError(.invalidArgument, "line \(number + 1) is not key=value: '\(trimmed)'", path: path.string)
            }
            do {
                try config.set(String(trimmed[..<equals]), to: String(trimmed[trimmed.index(after: equals)...]))
            } catch let error as LogStoreError {
                throw LogStoreError(.invalidArgument, "line \(number + 1): \(error.message)", path: path.string)
            }
        }
        return config
    }

    /// Writes the settings to the log in `directory`, atomically.
    public func save(logDirectory directory: FilePath) throws {
        var text = ""
        for key in Self.keys {
            if let value = value(for: key) { text += "\(key)=\(value)\n" }
        }
        try FileSystem.replaceAtomically(directory.appending(Self.fileName), with: Array(text.utf8))
    }

    /// The value of `key` as text; nil when unset.
    public func value(for key: String) -> String? {
        switch key {
        case "retention.bytes": return retentionBytes.map(String.init)
        case "retention.ms": return retentionMilliseconds.map(String.init)
        case "segment.bytes": return segmentBytes.map(String.init)
        case "compression.type": return compressionType?.rawValue
        case "compression.gzip.level": return gzipLevel.map(String.init)
        case "cleanup.policy": return cleanupPolicy?.rawValue
        case "delete.retention.ms": return deleteRetentionMilliseconds.map(String.init)
        case "max.message.bytes": return maxMessageBytes.map(String.init)
        default: return nil
        }
    }

    /// What an unset `key` means, as text.
    public static func defaultValue(for key: String) -> String {
        switch key {
        case "compression.type": return CompressionType.none.rawValue
        case "compression.gzip.level": return String(Compression.defaultGzipLevel)
        case "cleanup.policy": return CleanupPolicy.delete.rawValue
        case "delete.retention.ms": return String(LogOptions().deleteRetentionMilliseconds)
        case "segment.bytes": return String(LogOptions().maxSegmentBytes)
        case "max.message.bytes": return String(Log.maxBatchBytes)
        default: return "-1"
        }
    }

    /// Sets `key` from text; `-1` unsets a retention limit.
    /// - Throws: `.invalidArgument` naming the key and what is wrong with the value.
    public mutating func set(_ key: String, to text: String) throws {
        let value = text.trimmingCharacters(in: " \t")
        guard Self.keys.contains(key) else {
            throw LogStoreError(.invalidArgument, "unknown setting '\(key)' (known: \(Self.keys.joined(separator: ", ")))")
        }
        switch key {
        case "compression.type":
            guard let type = CompressionType(rawValue: value) else {
                throw LogStoreError(.invalidArgument, "compression.type must be none or gzip, got '\(value)'")
            }
            compressionType = type
            return
        case "cleanup.policy":
            guard let policy = CleanupPolicy(rawValue: value) else {
                throw LogStoreError(.invalidArgument, "cleanup.policy must be delete or compact, got '\(value)'")
            }
            cleanupPolicy = policy
            return
        default:
            break
        }
        guard let number = Int64(value) else {
            throw LogStoreError(.invalidArgument, "\(key) must be a whole number, got '\(value)'")
        }
        switch key {
        case "retention.bytes", "retention.ms":
            guard number >= -1 else {
                throw LogStoreError(.invalidArgument, "\(key) must be -1 (no limit) or at least 0, got \(number)")
            }
            let limit = number == -1 ? nil : number
            if key == "retention.bytes" { retentionBytes = limit } else { retentionMilliseconds = limit }
        case "compression.gzip.level":
            guard (1...9).contains(number) else {
                throw LogStoreError(.invalidArgument, "compression.gzip.level must be 1...9, got \(number)")
            }
            gzipLevel = Int(number)
        case "delete.retention.ms":
            guard number >= 0 else {
                throw LogStoreError(.invalidArgument, "delete.retention.ms must be at least 0, got \(number)")
            }
            deleteRetentionMilliseconds = number
        case "max.message.bytes":
            guard (1...Int64(Log.maxBatchBytes)).contains(number) else {
                throw LogStoreError(.invalidArgument, "max.message.bytes must be 1...\(Log.maxBatchBytes), got \(number)")
            }
            maxMessageBytes = number
        default:
            guard number >= 1024 else {
                throw LogStoreError(.invalidArgument, "segment.bytes must be at least 1024, got \(number)")
            }
            segmentBytes = number
        }
    }

    /// `options` with these settings in place of its defaults.
    public func applied(to options: LogOptions) -> LogOptions {
        var options = options
        if let segmentBytes { options.maxSegmentBytes = segmentBytes }
        if let retentionBytes { options.retentionBytes = retentionBytes }
        if let retentionMilliseconds { options.retentionMilliseconds = retentionMilliseconds }
        switch compressionType {
        case .gzip: options.compression = .gzip(level: gzipLevel ?? Compression.defaultGzipLevel)
        case .none?: options.compression = .none
        case nil: break
        }
        if let cleanupPolicy { options.cleanupPolicy = cleanupPolicy }
        if let deleteRetentionMilliseconds { options.deleteRetentionMilliseconds = deleteRetentionMilliseconds }
        if let maxMessageBytes { options.maxMessageBytes = Int(maxMessageBytes) }
        return options
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var result = self
        while let first = result.first, set.contains(first) { result = result.dropFirst() }
        while let last = result.last, set.contains(last) { result = result.dropLast() }
        return result
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(Substring(self).trimmingCharacters(in: set))
    }
}
