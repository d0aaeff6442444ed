/// The on-disk states a power loss at each point of a trace could leave,
/// under the rules POSIX file systems promise and no more:
/// - a write or truncate of a file is durable once an `fdatasync` of that
///   file began after it; before, it may be lost, kept, or (a write) torn at
///   any 512-byte boundary of the file, independently of other writes;
/// - a name made, renamed or removed in a directory is durable once an
///   `fsync` of that directory began after it; before, it may be lost or
///   kept, independently of other names (a rename between directories needs both);
/// - a file whose name was lost is gone with its bytes, and so is all that
///   a lost directory held.
///
/// All subsets of what is not durable would be exponential; each crash
/// point gives: nothing of it, all of it, each prefix of it (in trace
/// order), all of it but one step, and, for each write, the prefix ending in
/// it and all of it, with that write torn at up to `tornWritesPerStep`
/// sector boundaries. States that hold the same
/// files with the same bytes are explored once.
public struct CrashStates: Sendable {
    public let steps: [TraceStep]
    public let initial: FileTreeSnapshot
    public var tornWritesPerStep = 3
    /// For each step, the first step at or after which it is durable (`steps.count` when never).
    private let durableFrom: [Int]

    public init(steps: [TraceStep], initial: FileTreeSnapshot) {
        self.steps = steps
        self.initial = initial
        var durableFrom = [Int](repeating: steps.count, count: steps.count)
        for (index, step) in steps.enumerated() {
            switch step {
            case .write(let inode, _, _), .truncate(let inode, _):
                durableFrom[index] = Self.firstSync(after: index, in: steps) {
                    if case .syncFile(inode, let covering) = $0 { return covering > index }
                    return false
                }
            case .makeDirectory(let path), .createFile(let path, _), .remove(let path):
                durableFrom[index] = Self.firstDirectorySync(of: Self.parent(path), after: index, in: steps)
            case .rename(let from, let to):
                durableFrom[index] = max(
                    Self.firstDirectorySync(of: Self.parent(from), after: index, in: steps),
                    Self.firstDirectorySync(of: Self.parent(to), after: index, in: steps))
            case .syncFile, .syncDirectory, .mark:
                durableFrom[index] = index
            }
        }
        self.durableFrom = durableFrom
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    private static func firstSync(after index: Int, in steps: [TraceStep], _ matches: (TraceStep) -> Bool) -> Int {
        var next = index + 1
        while next < steps.count && !matches(steps[next]) { next += 1 }
        // Durable for crash points after the sync step (a crash point k holds steps 0..<k).
        return min(next + 1, steps.count + 1)
    }

    private static func firstDirectorySync(of directory: String, after index: Int, in steps: [TraceStep]) -> Int {
        firstSync(after: index, in: steps) {
            if case .syncDirectory(directory, let covering) = $0 { return covering > index }
            return false
        }
    }

    /// How a state treats each step that is not yet durable.
    public enum Choice: Sendable, Hashable {
        case keep
        case drop
        /// The write's bytes up to (not including) this file position.
        case tornAt(Int)
    }

    /// One state a crash can leave: the steps before `crashPoint`, those
    /// not yet durable treated as `choices` says (missing means dropped).
    public struct State: Sendable {
        public var crashPoint: Int
        public var label: String
        var choices: [Int: Choice]
    }

    /// The steps before `crashPoint` that are not durable at it.
    public func volatileSteps(before crashPoint: Int) -> [Int] {
        (0..<crashPoint).filter { durableFrom[$0] > crashPoint }
    }

    /// The states of crash point `crashPoint` (it holds steps `0..<crashPoint`).
    public func states(at crashPoint: Int) -> [State] {
        let volatile = volatileSteps(before: crashPoint)
        var states: [State] = []
        func add(_ label: String, _ choice: (Int, Int) -> Choice) {
            var choices: [Int: Choice] = [:]
            for (position, step) in volatile.enumerated() { choices[step] = choice(position, step) }
            states.append(State(crashPoint: crashPoint, label: label, choices: choices))
        }
        add("all kept") { _, _ in .keep }
        add("none kept") { _, _ in .drop }
        for (cut, step) in volatile.enumerated() {
            add("kept up to step \(step)") { position, _ in position < cut ? .keep : .drop }
            add("all kept but step \(step)") { _, other in other == step ? .drop : .keep }
            guard case .write(_, let position, let bytes) = steps[step] else { continue }
            for boundary in Self.sectorBoundaries(position: position, count: bytes.count, limit: tornWritesPerStep) {
                add("kept up to step \(step), torn at \(boundary)") { index, other in
                    index < cut ? .keep : other == step ? .tornAt(boundary) : .drop
                }
                add("all kept, step \(step) torn at \(boundary)") { _, other in other == step ? .tornAt(boundary) : .keep }
            }
        }
        return states
    }

    /// Up to `limit` 512-byte boundaries strictly inside a write: the first, the last and the middle.
    static func sectorBoundaries(position: Int, count: Int, limit: Int) -> [Int] {
        let first = (position / 512 + 1) * 512
        let end = position + count
        guard first < end else { return [] }
        let all = stride(from: first, to: end, by: 512).map { $0 }
        guard all.count > limit else { return all }
        var chosen = [all[0], all[all.count - 1]]
        if limit > 2 { chosen.append(all[all.count / 2]) }
        return chosen.sorted()
    }

    /// The files and bytes of `state`.
    public func files(of state: State) -> FileTree {
        var directories = initial.directories
        var names = initial.files
        var contents = initial.contents
        for index in 0..<state.crashPoint {
            let choice: Choice = durableFrom[index] <= state.crashPoint ? .keep : state.choices[index] ?? .drop
            if choice == .drop { continue }
            switch steps[index] {
            case .makeDirectory(let path):
                let parent = Self.parent(path)
                if parent.isEmpty || directories.contains(parent) { directories.insert(path) }
            case .createFile(let path, let inode):
                let parent = Self.parent(path)
                if parent.isEmpty || directories.contains(parent) { names[path] = inode }
                if contents[inode] == nil { contents[inode] = [] }
            case .write(let inode, let position, let bytes):
                var end = position + bytes.count
                if case .tornAt(let boundary) = choice { end = boundary }
                var content = contents[inode] ?? []
                if content.count < end { content.append(contentsOf: repeatElement(0, count: end - content.count)) }
                content.replaceSubrange(position..<end, with: bytes[0..<(end - position)])
                contents[inode] = content
            case .truncate(let inode, let size):
                var content = contents[inode] ?? []
                if content.count > size {
                    content.removeSubrange(size...)
                } else {
                    content.append(contentsOf: repeatElement(0, count: size - content.count))
                }
                contents[inode] = content
            case .rename(let from, let to):
                let toParent = Self.parent(to)
                guard toParent.isEmpty || directories.contains(toParent) else { continue }
                if let inode = names[from] {
                    names[from] = nil
                    names[to] = inode
                } else if directories.contains(from) {
                    Self.removeTree(to, &directories, &names)
                    let inside = from + "/"
                    directories = Set(
                        directories.map { $0 == from ? to : $0.hasPrefix(inside) ? to + "/" + $0.dropFirst(inside.count) : $0 })
                    names = Dictionary(
                        uniqueKeysWithValues: names.map {
                            ($0.key.hasPrefix(inside) ? to + "/" + $0.key.dropFirst(inside.count) : $0.key, $0.value)
                        })
                }
            case .remove(let path):
                Self.removeTree(path, &directories, &names)
            case .syncFile, .syncDirectory, .mark:
                break
            }
        }
        // What a lost directory held is gone with it.
        let reachable = names.filter { path, _ in
            let parent = Self.parent(path)
            return parent.isEmpty || directories.contains(parent)
        }
        var liveDirectories = directories
        for directory in directories.sorted() {
            let parent = Self.parent(directory)
            if !parent.isEmpty && !liveDirectories.contains(parent) { liveDirectories.remove(directory) }
        }
        return FileTree(
            directories: liveDirectories,
            files: reachable.filter { liveDirectories.contains(Self.parent($0.key)) || Self.parent($0.key).isEmpty }
                .mapValues { contents[$0] ?? [] })
    }

    private static func removeTree(_ path: String, _ directories: inout Set<String>, _ names: inout [String: Int]) {
        names[path] = nil
        guard directories.remove(path) != nil else { return }
        let inside = path + "/"
        directories = directories.filter { !$0.hasPrefix(inside) }
        names = names.filter { !$0.key.hasPrefix(inside) }
    }
}

/// Directories and files with their bytes, relative to a root.
public struct FileTree: Sendable, Hashable {
    public var directories: Set<String>
    public var files: [String: [UInt8]]
}
