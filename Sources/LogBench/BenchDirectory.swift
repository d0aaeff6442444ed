import LogStore
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory for one workload's files, deleted with everything in it
/// by `remove()` (the workloads call it on success and on failure).
public final class BenchDirectory {
    public let path: FilePath

    /// Creates `logbench-XXXXXX` inside `parent`, else `$TMPDIR`, else `/tmp`.
    public init(in parent: FilePath? = nil) throws {
        let base = parent?.string ?? getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/logbench-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let address = buffer.baseAddress else { return false }
            return mkdtemp(address) != nil
        }
        guard created else {
            throw BenchError("cannot create a temporary directory in \(base): \(String(cString: strerror(errno)))")
        }
        path = FilePath(
            template.withUnsafeBufferPointer { buffer in
                buffer.baseAddress.map { String(cString: $0) } ?? ""
            })
    }

    /// A path inside the directory.
    public func file(_ name: String) -> FilePath { path.appending(name) }

    /// Deletes the directory and everything below it.
    public func remove() {
        Self.removeTree(path.string)
    }

    static func removeTree(_ path: String) {
        if let directory = opendir(path) {
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(directory)
            for name in names {
                let child = path + "/" + name
                if unlink(child) != 0 && errno == EISDIR { removeTree(child) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Runs `body` with a fresh directory that is deleted afterwards, whatever happens.
func withBenchDirectory<T>(in parent: FilePath?, _ body: (BenchDirectory) throws -> T) throws -> T {
    let directory = try BenchDirectory(in: parent)
    defer { directory.remove() }
    return try body(directory)
}

/// A workload that could not run.
public struct BenchError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
