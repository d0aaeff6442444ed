import Foundation
import SystemPackage

/// Runs a workload while recording its file operations, then builds every
/// crash state of the trace (`CrashStates`) in a scratch directory and
/// checks each with the workload's invariants.
///
/// `check` gets a state's root directory (holding what the workload's root
/// would hold after the power loss) and the marks noted before the crash
/// point; it throws `CrashInvariantViolation` (or any error) when the state
/// breaks an invariant.
public enum CrashStateExplorer {
    public struct Report: Sendable, CustomStringConvertible {
        public var steps = 0
        public var crashPoints = 0
        /// States built from the trace, and how many of them were distinct (and so checked).
        public var states = 0
        public var distinctStates = 0
        /// Checked states the workload's check found in order in a way it calls out (e.g. a log that refused to open with a named corruption).
        public var notes: [String: Int] = [:]
        public var violations: [String] = []
        public var violationCount = 0
        public var trace: [TraceStep] = []

        public var description: String {
            var text =
                "\(steps) steps, \(crashPoints) crash points, \(states) states, \(distinctStates) distinct checked, \(violationCount) violations"
            for (note, count) in notes.sorted(by: { $0.key < $1.key }) { text += "; \(note): \(count)" }
            for violation in violations { text += "\n  " + violation }
            return text
        }
    }

    /// Explores `workload` run in `root` (which may hold files already: they
    /// count as durable). States are built under `scratch` (best on tmpfs).
    /// - Parameter maxStates: a bound on distinct states checked; crash points
    ///   are then taken evenly across the trace.
    public static func explore<Mark: Sendable>(
        root: FilePath, scratch: FilePath, maxStates: Int = 20_000, tornWritesPerStep: Int = 3,
        workload: (FileTraceRecorder<Mark>) throws -> Void,
        check: (_ directory: FilePath, _ marks: ArraySlice<Mark>, _ notes: inout [String: Int]) throws -> Void
    ) throws -> Report {
        let recorder = try FileTraceRecorder<Mark>(root: root)
        do {
            try workload(recorder)
        } catch {
            _ = recorder.stop()
            throw error
        }
        let (steps, marks) = recorder.stop()
        var states = CrashStates(steps: steps, initial: recorder.initial)
        states.tornWritesPerStep = tornWritesPerStep
        var report = Report()
        report.steps = steps.count
        report.trace = steps
        var marksBefore = [Int](repeating: 0, count: steps.count + 1)
        for (index, step) in steps.enumerated() {
            marksBefore[index + 1] = marksBefore[index] + (step.isMark ? 1 : 0)
        }
        var seen = Set<Int>()
        try FileManager.default.createDirectory(atPath: scratch.string, withIntermediateDirectories: true)
        var counter = 0
        for crashPoint in 0...steps.count {
            // A mark changes no file: its point is the point before it with one more mark.
            report.crashPoints += 1
            for state in states.states(at: crashPoint) {
                report.states += 1
                let tree = states.files(of: state)
                var hasher = Hasher()
                hasher.combine(tree)
                hasher.combine(marksBefore[crashPoint])
                guard seen.insert(hasher.finalize()).inserted else { continue }
                guard report.distinctStates < maxStates else { continue }
                report.distinctStates += 1
                counter += 1
                let directory = scratch.appending("state-\(counter)")
                try materialize(tree, at: directory)
                defer { try? FileManager.default.removeItem(atPath: directory.string) }
                do {
                    try check(directory, marks[0..<marksBefore[crashPoint]], &report.notes)
                } catch {
                    report.violationCount += 1
                    if report.violations.count < 10 {
                        let last = crashPoint > 0 ? "after step \(crashPoint - 1) (\(steps[crashPoint - 1]))" : "before any step"
                        report.violations.append("crash \(last), \(state.label): \(error)")
                    }
                }
            }
        }
        return report
    }

    static func materialize(_ tree: FileTree, at directory: FilePath) throws {
        try FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
        for path in tree.directories.sorted() {
            try FileManager.default.createDirectory(atPath: directory.string + "/" + path, withIntermediateDirectories: true)
        }
        for (path, bytes) in tree.files {
            guard FileManager.default.createFile(atPath: directory.string + "/" + path, contents: Data(bytes)) else {
                throw CrashInvariantViolation("cannot write \(path) of a crash state")
            }
        }
    }
}

extension TraceStep {
    var isMark: Bool {
        if case .mark = self { return true }
        return false
    }
}

/// What a crash state's check throws when the state breaks an invariant.
public struct CrashInvariantViolation: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
