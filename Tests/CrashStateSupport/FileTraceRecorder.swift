import Glibc
import LogStore
import Synchronization
import SystemPackage

/// One recorded step of a workload, in the terms a power loss is reasoned
/// about: names in directories, bytes in files (inodes), and the syncs that
/// make either durable. Paths are relative to the recorded root ("" is the root).
public enum TraceStep: Sendable, CustomStringConvertible {
    case makeDirectory(String)
    case createFile(String, inode: Int)
    case write(inode: Int, position: Int, bytes: [UInt8])
    case truncate(inode: Int, size: Int)
    /// A finished `fdatasync` of a file: its writes and truncates among the
    /// steps before `covering` (when the call began) are durable.
    case syncFile(inode: Int, covering: Int)
    /// A finished `fsync` of a directory: the names made, renamed or removed
    /// in it among the steps before `covering` are durable.
    case syncDirectory(String, covering: Int)
    case rename(String, to: String)
    case remove(String)
    /// The workload's note (an acknowledgement) at this point: its index in the marks.
    case mark(Int)

    public var description: String {
        switch self {
        case .makeDirectory(let path): "mkdir \(path)"
        case .createFile(let path, let inode): "create \(path) (#\(inode))"
        case .write(let inode, let position, let bytes): "write #\(inode) [\(position), \(position + bytes.count))"
        case .truncate(let inode, let size): "truncate #\(inode) to \(size)"
        case .syncFile(let inode, let covering): "fdatasync #\(inode) (of steps before \(covering))"
        case .syncDirectory(let path, let covering): "fsync dir '\(path)' (of steps before \(covering))"
        case .rename(let from, let to): "rename \(from) -> \(to)"
        case .remove(let path): "remove \(path)"
        case .mark(let index): "mark \(index)"
        }
    }
}

/// What the recorded root held when recording began: taken as durable.
public struct FileTreeSnapshot: Sendable {
    /// Every directory below the root, relative.
    public var directories: Set<String> = []
    /// Every file: its relative path and inode.
    public var files: [String: Int] = [:]
    /// Each inode's bytes.
    public var contents: [Int: [UInt8]] = [:]
}

/// Records every LogStore file operation under one directory (through
/// `FileOperations`), as the steps of a trace, and the workload's marks
/// between them. Stores into a shared mapping (a segment's index) are not
/// system calls: before each step the mapped files are compared with what
/// the trace says they hold, and a difference becomes a write at that point.
public final class FileTraceRecorder<Mark: Sendable>: FileOperationObserver, @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `lock`.
    private struct State {
        var steps: [TraceStep] = []
        var marks: [Mark] = []
        var inodes: [UInt64: Int] = [:]
        var nextInode = 0
        var contents: [Int: [UInt8]] = [:]
        /// Mapped inodes and a descriptor of their own to read them by.
        var mapped: [Int: Int32] = [:]
        /// Syncs under way: the step count when each began, by thread and target.
        var syncsBegun: [String: Int] = [:]
    }

    public let root: FilePath
    public let initial: FileTreeSnapshot
    private let prefix: String
    private let lock = Mutex(State())

    /// Snapshots `root` (taken as durable) and starts recording until `stop()`.
    public init(root: FilePath) throws {
        self.root = root
        prefix = root.string.hasSuffix("/") ? root.string : root.string + "/"
        var state = State()
        var snapshot = FileTreeSnapshot()
        try Self.scan(root.string, relative: "", into: &snapshot, state: &state)
        initial = snapshot
        lock.withLock { $0 = state }
        FileOperations.startObserving(self)
    }

    private static func scan(_ absolute: String, relative: String, into snapshot: inout FileTreeSnapshot, state: inout State)
        throws
    {
        guard let directory = opendir(absolute) else { throw RecorderError("cannot list \(absolute)") }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            guard name != ".", name != ".." else { continue }
            let path = absolute + "/" + name
            let relativePath = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { throw RecorderError("cannot stat \(path)") }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                snapshot.directories.insert(relativePath)
                try scan(path, relative: relativePath, into: &snapshot, state: &state)
            } else {
                let inode = state.nextInode
                state.nextInode += 1
                state.inodes[UInt64(info.st_ino)] = inode
                let bytes = try readAll(path)
                snapshot.files[relativePath] = inode
                snapshot.contents[inode] = bytes
                state.contents[inode] = bytes
            }
        }
    }

    private static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw RecorderError("cannot open \(path)") }
        defer { close(descriptor) }
        return readAll(descriptor: descriptor)
    }

    private static func readAll(descriptor: Int32) -> [UInt8] {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n <= 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }

    /// Stops recording; returns the trace and the marks.
    public func stop() -> (steps: [TraceStep], marks: [Mark]) {
        FileOperations.stopObserving(self)
        return lock.withLock { state in
            Self.recordMappedStores(&state)
            for descriptor in state.mapped.values { close(descriptor) }
            state.mapped = [:]
            return (state.steps, state.marks)
        }
    }

    /// Notes `mark` at this point of the trace (call it right after the
    /// operation it describes returned, e.g. an acknowledged append).
    public func mark(_ mark: Mark) {
        lock.withLock { state in
            Self.recordMappedStores(&state)
            state.steps.append(.mark(state.marks.count))
            state.marks.append(mark)
        }
    }

    private func relative(_ path: FilePath) -> String? {
        let string = path.string
        if string == root.string || string + "/" == prefix { return "" }
        guard string.hasPrefix(prefix) else { return nil }
        return String(string.dropFirst(prefix.count))
    }

    package func observe(_ operation: FileOperation) {
        lock.withLock { state in
            switch operation {
            case .created(let path, let isDirectory):
                guard let relative = relative(path) else { return }
                Self.recordMappedStores(&state)
                if isDirectory {
                    state.steps.append(.makeDirectory(relative))
                    return
                }
                var info = stat()
                guard lstat(path.string, &info) == 0 else { return }
                let inode = state.nextInode
                state.nextInode += 1
                state.inodes[UInt64(info.st_ino)] = inode
                state.contents[inode] = []
                state.steps.append(.createFile(relative, inode: inode))
            case .wrote(let descriptor, let path, let position, let bytes):
                guard relative(path) != nil, let inode = Self.inode(of: descriptor, &state) else { return }
                Self.recordMappedStores(&state)
                let copy = [UInt8](bytes)
                Self.apply(write: copy, at: Int(position), to: inode, &state)
                state.steps.append(.write(inode: inode, position: Int(position), bytes: copy))
            case .truncated(let descriptor, let path, let size):
                guard relative(path) != nil, let inode = Self.inode(of: descriptor, &state) else { return }
                Self.recordMappedStores(&state)
                Self.apply(truncateTo: Int(size), inode, &state)
                state.steps.append(.truncate(inode: inode, size: Int(size)))
            case .syncing(let descriptor, let path, let done):
                guard relative(path) != nil, let inode = Self.inode(of: descriptor, &state) else { return }
                Self.recordSync(of: "#\(inode)", done: done, &state) { .syncFile(inode: inode, covering: $0) }
            case .syncingDirectory(let path, let done):
                guard let relative = relative(path) else { return }
                Self.recordSync(of: relative, done: done, &state) { .syncDirectory(relative, covering: $0) }
            case .renamed(let from, let to):
                guard let source = relative(from), let target = relative(to) else { return }
                Self.recordMappedStores(&state)
                state.steps.append(.rename(source, to: target))
            case .removed(let path):
                guard let relative = relative(path) else { return }
                Self.recordMappedStores(&state)
                state.steps.append(.remove(relative))
            case .mapped(let descriptor, let path):
                guard relative(path) != nil, let inode = Self.inode(of: descriptor, &state) else { return }
                Self.recordMappedStores(&state)
                if state.mapped[inode] == nil { state.mapped[inode] = dup(descriptor.rawValue) }
            }
        }
    }

    /// A sync's start is remembered (by thread and target); its end is the
    /// step, covering what came before the start.
    private static func recordSync(
        of target: String, done: Bool, _ state: inout State, step: (_ covering: Int) -> TraceStep
    ) {
        recordMappedStores(&state)
        let key = "\(pthread_self()) \(target)"
        guard done else {
            state.syncsBegun[key] = state.steps.count
            return
        }
        let covering = state.syncsBegun.removeValue(forKey: key) ?? state.steps.count
        state.steps.append(step(covering))
    }

    private static func inode(of descriptor: FileDescriptor, _ state: inout State) -> Int? {
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else { return nil }
        return state.inodes[UInt64(info.st_ino)]
    }

    private static func apply(write bytes: [UInt8], at position: Int, to inode: Int, _ state: inout State) {
        var content = state.contents[inode] ?? []
        if content.count < position + bytes.count {
            content.append(contentsOf: repeatElement(0, count: position + bytes.count - content.count))
        }
        content.replaceSubrange(position..<position + bytes.count, with: bytes)
        state.contents[inode] = content
    }

    private static func apply(truncateTo size: Int, _ inode: Int, _ state: inout State) {
        var content = state.contents[inode] ?? []
        if content.count > size {
            content.removeSubrange(size...)
        } else {
            content.append(contentsOf: repeatElement(0, count: size - content.count))
        }
        state.contents[inode] = content
    }

    /// Turns what stores into mapped files changed since the last step into writes.
    private static func recordMappedStores(_ state: inout State) {
        for (inode, descriptor) in state.mapped.sorted(by: { $0.key < $1.key }) {
            let real = readAll(descriptor: descriptor)
            let known = state.contents[inode] ?? []
            let common = min(real.count, known.count)
            var position = 0
            while position < common {
                guard real[position] != known[position] else {
                    position += 1
                    continue
                }
                var end = position + 1
                // A run of differences, with short equal gaps folded in.
                while end < common {
                    if real[end] != known[end] {
                        end += 1
                        continue
                    }
                    var gapEnd = end
                    while gapEnd < common && gapEnd - end < 32 && real[gapEnd] == known[gapEnd] { gapEnd += 1 }
                    guard gapEnd < common, gapEnd - end < 32 else { break }
                    end = gapEnd
                }
                let bytes = Array(real[position..<end])
                apply(write: bytes, at: position, to: inode, &state)
                state.steps.append(.write(inode: inode, position: position, bytes: bytes))
                position = end
            }
        }
    }
}

struct RecorderError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
