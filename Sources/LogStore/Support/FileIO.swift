import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor that closes itself when the last reference goes.
/// Segments share it with readers and the sync path, so a file is never closed
/// under a `pread` or an `fdatasync` still running on another thread.
final class OpenFile: Sendable {
    let descriptor: FileDescriptor
    let path: FilePath

    init(path: FilePath, options: FileDescriptor.OpenOptions, mode: FileDescriptor.AccessMode = .readWrite) throws {
        self.path = path
        let creating = FileOperations.isObserved && options.contains(.create) && !FileSystem.exists(path)
        do {
            descriptor = try FileDescriptor.open(
                path, mode, options: options.union(.closeOnExec), permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw LogStoreError(.io, "cannot open", path: path.string, underlying: error)
        }
        if creating { FileOperations.report(.created(path, isDirectory: false)) }
        if options.contains(.truncate) { FileOperations.report(.truncated(descriptor, path: path, size: 0)) }
    }

    deinit { try? descriptor.close() }

    /// A new descriptor of the same open file (close-on-exec), which the caller owns and closes.
    func duplicateDescriptor() throws -> FileDescriptor {
        let duplicate = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else {
            throw LogStoreError(.io, "cannot duplicate the descriptor", path: path.string, underlying: Errno(rawValue: errno))
        }
        return FileDescriptor(rawValue: duplicate)
    }

    func size() throws -> Int64 {
        do {
            return try descriptor.seek(offset: 0, from: .end)
        } catch {
            throw LogStoreError(.io, "cannot stat", path: path.string, underlying: error)
        }
    }

    /// Reads exactly `buffer.count` bytes at `position` unless the file ends first;
    /// returns how many were read.
    func read(into buffer: UnsafeMutableRawBufferPointer, at position: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let chunk = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let n: Int
            do {
                n = try descriptor.read(fromAbsoluteOffset: position + Int64(done), into: chunk)
            } catch {
                throw LogStoreError(.io, "read failed", path: path.string, position: position, underlying: error)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: UnsafeRawBufferPointer, at position: Int64) throws {
        do {
            _ = try descriptor.writeAll(toAbsoluteOffset: position, bytes)
        } catch {
            throw LogStoreError(.io, "write failed", path: path.string, position: position, underlying: error)
        }
        FileOperations.report(.wrote(descriptor, path: path, position: position, bytes: bytes))
    }

    func truncate(to size: Int64) throws {
        if ftruncate(descriptor.rawValue, off_t(size)) != 0 {
            throw LogStoreError(.io, "truncate failed", path: path.string, position: size, underlying: Errno(rawValue: errno))
        }
        FileOperations.report(.truncated(descriptor, path: path, size: size))
    }

    /// Flushes the file's data (not necessarily its metadata) to stable storage.
    func syncData() throws {
        try FileSystem.syncData(descriptor, path: path)
    }
}

/// The few file-system calls swift-system lacks.
enum FileSystem {
    /// A glibc function the Swift Glibc module does not show (a GNU
    /// extension such as `sync_file_range` or `fallocate`), looked up at run
    /// time; nil off Linux.
    static func glibcFunction<Function>(named name: String, as type: Function.Type) -> Function? {
        #if os(Linux)
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
        #else
        return nil
        #endif
    }

    /// `fdatasync`, retried on EINTR (swift-system has no wrapper).
    static func syncData(_ descriptor: FileDescriptor, path: FilePath) throws {
        // Reported on both sides: it covers only the writes that ended before it began.
        FileOperations.report(.syncing(descriptor, path: path, done: false))
        while true {
            #if canImport(Darwin)
            let result = fsync(descriptor.rawValue)
            #else
            let result = fdatasync(descriptor.rawValue)
            #endif
            if result == 0 {
                FileOperations.report(.syncing(descriptor, path: path, done: true))
                return
            }
            if errno == EINTR { continue }
            throw LogStoreError(.io, "fdatasync failed", path: path.string, underlying: Errno(rawValue: errno))
        }
    }

    /// fsync of a directory, so that creating, renaming or deleting a file in it
    /// survives power loss (DESIGN.md durability rule 4).
    static func syncDirectory(_ path: FilePath) throws {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(path, .readOnly, options: [.directory, .closeOnExec])
        } catch {
            throw LogStoreError(.io, "cannot open directory", path: path.string, underlying: error)
        }
        defer { try? descriptor.close() }
        FileOperations.report(.syncingDirectory(path, done: false))
        while fsync(descriptor.rawValue) != 0 {
            if errno == EINTR { continue }
            throw LogStoreError(.io, "fsync of directory failed", path: path.string, underlying: Errno(rawValue: errno))
        }
        FileOperations.report(.syncingDirectory(path, done: true))
    }

    /// Creates `path` (and, with `creatingParents`, its missing parents) so that the new names survive
    /// a power loss: the parent is fsynced after each `mkdir` (DESIGN.md rule
    /// 4; without it a new log, with acknowledged records in it, can vanish
    /// whole). When `path` exists already its parent is fsynced too: an
    /// earlier process may have crashed between its `mkdir` and the fsync.
    static func createDirectory(_ path: FilePath, creatingParents: Bool = false) throws {
        let parent = path.removingLastComponent()
        let parentToSync = parent.isEmpty ? FilePath(".") : parent
        if mkdir(path.string, 0o755) == 0 {
            FileOperations.report(.created(path, isDirectory: true))
            try syncDirectory(parentToSync)
            return
        }
        let failure = errno
        switch failure {
        case EEXIST:
            // A parent we may not read was synced, we must trust, by whoever made the name.
            if access(parentToSync.string, R_OK) == 0 { try syncDirectory(parentToSync) }
        case ENOENT where creatingParents && !parent.isEmpty && parent != path:
            try createDirectory(parent, creatingParents: true)
            try createDirectory(path)
        default:
            throw LogStoreError(.io, "cannot create directory", path: path.string, underlying: Errno(rawValue: failure))
        }
    }

    /// A pipe whose ends are closed on exec: a child process started meanwhile
    /// (a test's server, a user's subprocess) must not hold the write end
    /// open, or the reader never sees the end of the data. (`pipe2` is a GNU
    /// extension Swift's Glibc does not show; the flags follow at once.)
    static func makePipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw LogStoreError(.io, "cannot make a pipe", underlying: Errno(rawValue: errno)) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }

    /// Whether `descriptor` is open on a regular file (not a pipe, socket or terminal).
    static func isRegularFile(_ descriptor: Int32) -> Bool {
        var status = stat()
        return fstat(descriptor, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
    }

    static func exists(_ path: FilePath) -> Bool {
        access(path.string, F_OK) == 0
    }

    static func remove(_ path: FilePath) throws {
        if unlink(path.string) == 0 {
            FileOperations.report(.removed(path))
        } else if errno != ENOENT {
            throw LogStoreError(.io, "cannot delete", path: path.string, underlying: Errno(rawValue: errno))
        }
    }

    static func rename(_ from: FilePath, to: FilePath) throws {
        if Glibc.rename(from.string, to.string) != 0 {
            throw LogStoreError(.io, "cannot rename to \(to.string)", path: from.string, underlying: Errno(rawValue: errno))
        }
        FileOperations.report(.renamed(from, to: to))
    }

    /// The names of the entries in a directory (no `.` or `..`).
    static func listDirectory(_ path: FilePath) throws -> [String] {
        guard let directory = opendir(path.string) else {
            throw LogStoreError(.io, "cannot list directory", path: path.string, underlying: Errno(rawValue: errno))
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync of the directory.
    static func replaceAtomically(_ path: FilePath, with bytes: [UInt8]) throws {
        let temporary = FilePath(path.string + ".tmp")
        let file = try OpenFile(path: temporary, options: [.create, .truncate])
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try file.syncData()
        try rename(temporary, to: path)
        try syncDirectory(path.removingLastComponent())
    }

    /// Reads a whole (small) file.
    static func readFile(_ path: FilePath) throws -> [UInt8] {
        let file = try OpenFile(path: path, options: [], mode: .readOnly)
        let size = Int(try file.size())
        var bytes = [UInt8](repeating: 0, count: size)
        let read = try bytes.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        return Array(bytes[0..<read])
    }
}

/// A file operation of LogStore, as `FileOperations` reports it to an
/// observer: the tests' crash-state explorer records them to build every
/// state a power loss could leave. Reported after the operation succeeded;
/// syncs also before the call (a sync covers only the writes that ended
/// before it began).
package enum FileOperation {
    /// A new file or directory (`mkdir`, `open` with `O_CREAT` of a missing name).
    case created(FilePath, isDirectory: Bool)
    case wrote(FileDescriptor, path: FilePath, position: Int64, bytes: UnsafeRawBufferPointer)
    /// `ftruncate`, or `open` with `O_TRUNC`.
    case truncated(FileDescriptor, path: FilePath, size: Int64)
    /// `fdatasync` of a file: about to begin, or `done`.
    case syncing(FileDescriptor, path: FilePath, done: Bool)
    /// `fsync` of a directory: about to begin, or `done`.
    case syncingDirectory(FilePath, done: Bool)
    case renamed(FilePath, to: FilePath)
    /// `unlink` of a file or `rmdir` of an empty directory.
    case removed(FilePath)
    /// A writable shared mapping of the file: stores into it change the file
    /// without a `write` (a segment's index).
    case mapped(FileDescriptor, path: FilePath)
}

/// Something that sees every `FileOperation` of this process.
package protocol FileOperationObserver: AnyObject, Sendable {
    /// Called on the thread doing the operation; must not call back into LogStore.
    func observe(_ operation: FileOperation)
}

/// Where file operations are reported: to the observers tests start.
/// Without one, a report costs one relaxed atomic load.
package enum FileOperations {
    private static let observed = Atomic<Bool>(false)
    private static let observers = Mutex<[any FileOperationObserver]>([])

    /// Sends every later file operation of the process to `observer` until `stopObserving(observer)`.
    package static func startObserving(_ observer: any FileOperationObserver) {
        observers.withLock { $0.append(observer) }
        observed.store(true, ordering: .releasing)
    }

    package static func stopObserving(_ observer: any FileOperationObserver) {
        observers.withLock { observers in
            observers.removeAll { $0 === observer }
            observed.store(!observers.isEmpty, ordering: .releasing)
        }
    }

    static var isObserved: Bool { observed.load(ordering: .relaxed) }

    @inline(__always)
    static func report(_ operation: @autoclosure () -> FileOperation) {
        guard observed.load(ordering: .relaxed) else { return }
        let current = observers.withLock { $0 }
        guard !current.isEmpty else { return }
        let operation = operation()
        for observer in current { observer.observe(operation) }
    }
}

/// Milliseconds since the Unix epoch, from the real-time clock.
@inline(__always)
func currentTimeMillis() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Nanoseconds from a monotonic clock, for intervals.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
