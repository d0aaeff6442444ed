import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Log {
    /// The prefix of the hidden name a log's directory takes while it is deleted.
    static let deletedPrefix = ".deleted-"

    /// Deletes the closed log in `directory` for good, crash-safely: the
    /// directory is first renamed, under the log's lock, to a hidden name in
    /// its parent (`.deleted-<name>-<number>`, the name cut to 200 bytes), the parent fsynced, then its
    /// files removed. A crash leaves either the whole log or a hidden
    /// directory that `removeDeletedLogs(in:)` clears; never half a log.
    /// - Throws: `.unavailable` when a process has the log open,
    ///   `.invalidArgument` when there is no log there, `.io` when a step fails.
    public static func delete(directory: FilePath) throws {
        guard let name = directory.lastComponent?.string, FileSystem.exists(directory.appending(lockFileName)) else {
            throw LogStoreError(.invalidArgument, "no log here", path: directory.string)
        }
        let parent = directory.removingLastComponent()
        let lockFile = try OpenFile(path: directory.appending(lockFileName), options: [])
        if flock(lockFile.descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw LogStoreError(
                .unavailable, "log is open in another process; close it before deleting it", path: directory.string)
        }
        var generator = SystemRandomNumberGenerator()
        // The hidden name keeps (the start of) the log's name for whoever looks, within a file name's 255 bytes.
        var shown = ""
        for scalar in name.unicodeScalars {
            guard shown.utf8.count + String(scalar).utf8.count <= 200 else { break }
            shown.unicodeScalars.append(scalar)
        }
        let hidden = parent.appending("\(deletedPrefix)\(shown)-\(UInt64.random(in: 0...UInt64.max, using: &generator))")
        try FileSystem.rename(directory, to: hidden)
        try FileSystem.syncDirectory(parent)
        flock(lockFile.descriptor.rawValue, LOCK_UN)
        try FileSystem.removeTree(hidden)
    }

    /// Removes what deletions interrupted by a crash left in `parent` (the
    /// hidden `.deleted-*` directories of `delete(directory:)`).
    /// - Returns: how many it removed.
    @discardableResult
    public static func removeDeletedLogs(in parent: FilePath) throws -> Int {
        guard FileSystem.exists(parent) else { return 0 }
        var removed = 0
        for name in try FileSystem.listDirectory(parent) where name.hasPrefix(deletedPrefix) {
            try FileSystem.removeTree(parent.appending(name))
            removed += 1
        }
        return removed
    }
}

extension FileSystem {
    /// Removes `path` and, for a directory, everything in it.
    static func removeTree(_ path: FilePath) throws {
        if unlink(path.string) == 0 {
            FileOperations.report(.removed(path))
            return
        }
        if errno == ENOENT { return }
        guard errno == EISDIR || errno == EPERM else {
            throw LogStoreError(.io, "cannot delete", path: path.string, underlying: Errno(rawValue: errno))
        }
        for name in try listDirectory(path) { try removeTree(path.appending(name)) }
        if rmdir(path.string) == 0 {
            FileOperations.report(.removed(path))
        } else if errno != ENOENT {
            throw LogStoreError(.io, "cannot delete directory", path: path.string, underlying: Errno(rawValue: errno))
        }
    }
}
