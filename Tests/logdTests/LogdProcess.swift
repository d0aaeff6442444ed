import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the real `logd` binary, built next to this test bundle, as a child
/// process (posix_spawn: the tests decide exactly which descriptors the child
/// gets, so a pipe's end is never held open by an unrelated child).
enum Logd {
    /// `logd` in the build products directory that holds the running test
    /// executable (any `--scratch-path`); `LOGD_BINARY` overrides.
    static let binaryPath: String? = locateBinary()

    private static func locateBinary() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let override = environment["LOGD_BINARY"], !override.isEmpty { return override }
        var starts: [String] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.append((executable as NSString).deletingLastPathComponent)
        }
        if let executable = Bundle.main.executablePath { starts.append((executable as NSString).deletingLastPathComponent) }
        starts.append(Bundle.main.bundlePath)
        for start in starts {
            // Linux: .../debug/logdPackageTests.xctest; macOS: .../debug/logdPackageTests.xctest/Contents/MacOS.
            var directory = start
            for _ in 0..<4 {
                let candidate = directory + "/logd"
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                    FileManager.default.isExecutableFile(atPath: candidate)
                {
                    return candidate
                }
                directory = (directory as NSString).deletingLastPathComponent
            }
        }
        return nil
    }

    static func requireBinary(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(
            binaryPath, "the logd binary was not found next to the test executable; build with `swift build --build-tests`",
            sourceLocation: sourceLocation)
    }

    /// Runs `logd arguments...` to completion and collects its output.
    /// - Parameters:
    ///   - environment: added to the test's environment, from which `LOGD_DIR` is removed
    ///     (so only tests that set it see it).
    ///   - workingDirectory: the child's working directory (default: the test's).
    ///   - input: standard input (default: empty).
    ///   - timeout: the child is killed and the test fails after this long.
    @discardableResult
    static func run(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil, input: [UInt8] = [],
        timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> LogdResult {
        let child = try start(
            arguments, environment: environment, workingDirectory: workingDirectory, sourceLocation: sourceLocation)
        child.writeInBackground(input)
        let termination = try child.wait(timeout: timeout, sourceLocation: sourceLocation)
        return LogdResult(
            arguments: arguments, termination: termination, stdout: child.stdout.bytes, stderr: child.stderr.bytes)
    }

    /// Starts `logd arguments...` with its standard input, output and error on pipes.
    static func start(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ChildProcess {
        let binary = try requireBinary(sourceLocation: sourceLocation)
        var merged = ProcessInfo.processInfo.environment
        merged["LOGD_DIR"] = nil
        for (key, value) in environment { merged[key] = value }
        return try ChildProcess(
            executable: binary, arguments: arguments, environment: merged, workingDirectory: workingDirectory)
    }
}

/// How a child ended.
enum Termination: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        if status & 0x7f == 0 { self = .exited((status >> 8) & 0xff) } else { self = .signaled(status & 0x7f) }
    }

    var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// What a finished `logd` run printed and how it ended.
struct LogdResult: CustomStringConvertible {
    var arguments: [String]
    var termination: Termination
    var stdout: [UInt8]
    var stderr: [UInt8]

    /// The exit code; nil when a signal ended the process.
    var exitCode: Int32? {
        if case .exited(let code) = termination { return code }
        return nil
    }
    var succeeded: Bool { termination == .exited(0) }
    var output: String { String(decoding: stdout, as: UTF8.self) }
    var errorOutput: String { String(decoding: stderr, as: UTF8.self) }
    /// Standard output split into lines (without the line feeds).
    var lines: [String] { Self.lines(output) }
    var errorLines: [String] { Self.lines(errorOutput) }

    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    var description: String {
        "`logd \(arguments.joined(separator: " "))` -> \(termination)\n--- stdout:\n\(output.prefix(4000))\n--- stderr:\n\(errorOutput.prefix(4000))"
    }
}

/// Everything a child wrote to one pipe, read by a thread of its own until
/// the end of file.
final class OutputCollector: Sendable {
    private struct State {
        var bytes: [UInt8] = []
        var ended = false
        var firstOutput: ContinuousClock.Instant?
    }
    private let state = Mutex(State())

    init(descriptor: Int32) {
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                state.withLock {
                    $0.bytes.append(contentsOf: chunk[0..<count])
                    if $0.firstOutput == nil { $0.firstOutput = .now }
                }
            }
            close(descriptor)
            state.withLock { $0.ended = true }
        }
    }

    var bytes: [UInt8] { state.withLock { $0.bytes } }
    /// When the first bytes arrived.
    var firstOutput: ContinuousClock.Instant? { state.withLock { $0.firstOutput } }
    var ended: Bool { state.withLock { $0.ended } }
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The complete lines so far (a last line without its line feed is left out).
    var completeLines: [String] {
        let bytes = bytes
        guard let last = bytes.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        return bytes[...last].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// Polls until `condition` holds for the complete lines; returns them, or
    /// nil when the pipe ended or `timeout` passed first.
    func waitForLines(timeout: Duration, until condition: ([String]) -> Bool) -> [String]? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let wasEnded = ended
            let lines = completeLines
            if condition(lines) { return lines }
            if wasEnded || ContinuousClock.now >= deadline { return nil }
            usleep(1000)
        }
    }

    /// Waits for the end of file; false after `timeout`.
    func waitForEnd(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !ended {
            if ContinuousClock.now >= deadline { return false }
            usleep(1000)
        }
        return true
    }
}

/// Ignore SIGPIPE in the test process: writing to a child we killed must be an
/// EPIPE error, not the end of the test run.
private let ignoreBrokenPipe: Void = {
    signal(SIGPIPE, SIG_IGN)
}()

private let spawnLock = NSLock()

private func sendSignal(_ pid: pid_t, _ signal: Int32) {
    _ = kill(pid, signal)
}

private func writeDescriptor(_ descriptor: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, base, count)
}

struct ChildProcessError: Error, CustomStringConvertible {
    var description: String
}

/// A child process with pipes on its standard input, output and error. Killed
/// and reaped when dropped, so a failing test leaves no process behind.
final class ChildProcess {
    let pid: pid_t
    let arguments: [String]
    let stdout: OutputCollector
    let stderr: OutputCollector
    /// The write end of the child's standard input; -1 once closed.
    private(set) var inputDescriptor: Int32
    private var termination: Termination?
    private var writer: DispatchSemaphore?

    init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String?) throws {
        _ = ignoreBrokenPipe
        self.arguments = arguments
        func makePipe() throws -> (read: Int32, write: Int32) {
            var descriptors: [Int32] = [0, 0]
            guard pipe(&descriptors) == 0 else {
                throw ChildProcessError(description: "pipe failed: \(String(cString: strerror(errno)))")
            }
            // Only this child gets these ends (as 0, 1 and 2), never one started concurrently.
            _ = fcntl(descriptors[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(descriptors[1], F_SETFD, FD_CLOEXEC)
            return (descriptors[0], descriptors[1])
        }
        // Pipes are made and children started one at a time, so no pipe end
        // is ever open without FD_CLOEXEC while another child starts.
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let input = try makePipe()
        let output = try makePipe()
        let error = try makePipe()

        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, error.write, 2)
        #if canImport(Glibc)
        // Not in Swift's Glibc module (they need _GNU_SOURCE); glibc has had them since 2.34 and 2.29.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        typealias ChangeDirectory =
            @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
        }
        if let workingDirectory {
            let symbol = try #require(dlsym(nil, "posix_spawn_file_actions_addchdir_np"), "glibc 2.29 or later is needed")
            let result = workingDirectory.withCString { unsafeBitCast(symbol, to: ChangeDirectory.self)(&actions, $0) }
            guard result == 0 else { throw ChildProcessError(description: "posix_spawn_file_actions_addchdir_np: \(result)") }
        }
        #else
        if let workingDirectory { posix_spawn_file_actions_addchdir_np(&actions, workingDirectory) }
        #endif
        // The child starts with default signal handling and nothing blocked,
        // whatever the test runner did to its own.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var noneBlocked = sigset_t()
        sigemptyset(&noneBlocked)
        posix_spawnattr_setsigmask(&attributes, &noneBlocked)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #endif
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // The child's ends belong to the child now.
        close(input.read)
        close(output.write)
        close(error.write)
        guard result == 0 else {
            close(input.write)
            close(output.read)
            close(error.read)
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        self.pid = pid
        inputDescriptor = input.write
        stdout = OutputCollector(descriptor: output.read)
        stderr = OutputCollector(descriptor: error.read)
    }

    deinit {
        if termination == nil {
            sendSignal(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        waitForWriter()
        closeInput()
    }

    /// Writes `bytes` to the child's standard input; returns how many bytes
    /// went into the pipe (fewer when the child has gone).
    @discardableResult
    func write(_ bytes: [UInt8]) -> Int {
        Self.write(bytes, to: inputDescriptor)
    }

    static func write(_ bytes: [UInt8], to descriptor: Int32) -> Int {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return writeDescriptor(descriptor, base + done, buffer.count - done)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return done
            }
            done += written
        }
        return done
    }

    /// Writes `bytes` from a thread of its own, then closes standard input.
    func writeInBackground(_ bytes: [UInt8]) {
        waitForWriter()
        let descriptor = inputDescriptor
        inputDescriptor = -1
        let done = DispatchSemaphore(value: 0)
        writer = done
        Thread.detachNewThread {
            _ = ChildProcess.write(bytes, to: descriptor)
            close(descriptor)
            done.signal()
        }
    }

    /// Runs `body` with the standard input descriptor on a thread of its own;
    /// standard input is closed when it returns.
    func feedInBackground(_ body: @escaping @Sendable (Int32) -> Void) {
        waitForWriter()
        let descriptor = inputDescriptor
        inputDescriptor = -1
        let done = DispatchSemaphore(value: 0)
        writer = done
        Thread.detachNewThread {
            body(descriptor)
            close(descriptor)
            done.signal()
        }
    }

    /// Waits for the background writer, if any, to finish.
    func waitForWriter() {
        writer?.wait()
        writer = nil
    }

    func closeInput() {
        if inputDescriptor >= 0 {
            close(inputDescriptor)
            inputDescriptor = -1
        }
    }

    func send(_ signal: Int32) {
        if termination == nil { sendSignal(pid, signal) }
    }

    /// Whether the child has exited (reaps it when it has).
    var hasExited: Bool {
        if termination != nil { return true }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            termination = Termination(waitStatus: status)
            return true
        }
        return false
    }

    /// Waits for the child to end and for its output pipes to reach end of
    /// file. After `timeout` the child is killed and the wait throws.
    func wait(timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation) throws -> Termination {
        let deadline = ContinuousClock.now + timeout
        while !hasExited {
            if ContinuousClock.now >= deadline {
                sendSignal(pid, SIGKILL)
                _ = try? waitForExit()
                let message =
                    "`logd \(arguments.joined(separator: " "))` did not finish within \(timeout); killed it. stdout: \(stdout.text.suffix(2000)) stderr: \(stderr.text.suffix(2000))"
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
                throw ChildProcessError(description: message)
            }
            usleep(500)
        }
        let ended = stdout.waitForEnd(timeout: .seconds(10)) && stderr.waitForEnd(timeout: .seconds(10))
        try #require(
            ended, "output pipes of `logd \(arguments.joined(separator: " "))` stayed open after it exited",
            sourceLocation: sourceLocation)
        waitForWriter()
        closeInput()
        return termination ?? .exited(-1)
    }

    /// Kills the child with SIGKILL and reaps it.
    @discardableResult
    func kill() throws -> Termination {
        send(SIGKILL)
        return try waitForExit()
    }

    private func waitForExit() throws -> Termination {
        if let termination { return termination }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw ChildProcessError(description: "waitpid failed: \(String(cString: strerror(errno)))")
            }
        }
        let ended = Termination(waitStatus: status)
        termination = ended
        return ended
    }
}
