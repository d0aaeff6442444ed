import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tells waiters that something in a directory changed: a file written,
/// created, deleted or renamed. A reader of a log that another process
/// writes waits on it instead of polling (Linux inotify; elsewhere `start`
/// returns nil and the reader polls).
///
/// One thread per watcher blocks in `poll` on the inotify descriptor and
/// wakes every waiter after each burst of events; it ends within
/// `Self.pollMilliseconds` of `stop()` and closes the descriptor.
final class DirectoryWatcher: Sendable {
    private struct State {
        /// Counts bursts of events; a waiter waits for it to move past what it saw.
        var generation: UInt64 = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var stopped = false
    }

    private let state = Mutex(State())
    private let descriptor: Int32

    /// How long the watcher thread sleeps in `poll` before it looks at `stop()`.
    static let pollMilliseconds: Int32 = 100

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// A watcher of `directory`, or nil where the platform has no inotify or
    /// it cannot be set up (too many watches, say): the caller then polls.
    static func start(_ directory: FilePath) -> DirectoryWatcher? {
        #if os(Linux)
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE)
        guard inotify_add_watch(descriptor, directory.string, mask) >= 0 else {
            close(descriptor)
            return nil
        }
        let watcher = DirectoryWatcher(descriptor: descriptor)
        do {
            let thread = try startThread { watcher.run() }
            pthread_detach(thread)
        } catch {
            close(descriptor)
            return nil
        }
        return watcher
        #else
        return nil
        #endif
    }

    /// The count of event bursts so far: pass it to `wait(after:timeout:)`.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Suspends until an event burst after `generation`, the timeout, the
    /// watcher's stop or the task's cancellation, whichever comes first.
    func wait(after generation: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForEvent(after: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForEvent(after generation: UInt64) async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.stopped || state.generation > generation || Task.isCancelled { return true }
                    state.waiters.append((id, continuation))
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume()
        }
    }

    /// Ends the thread (within `pollMilliseconds`) and wakes every waiter.
    func stop() {
        let waiters = state.withLock { state in
            state.stopped = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// The watcher thread: drain the events, then wake the waiters.
    private func run() {
        var events = [UInt8](repeating: 0, count: 4096)
        while !state.withLock({ $0.stopped }) {
            var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&request, 1, Self.pollMilliseconds)
            guard ready > 0 else {
                if ready < 0 && errno != EINTR { break }
                continue
            }
            var drained = false
            while events.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 { drained = true }
            guard drained else { continue }
            let waiters = state.withLock { state in
                state.generation += 1
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.continuation.resume() }
        }
        close(descriptor)
        stop()
    }
}
