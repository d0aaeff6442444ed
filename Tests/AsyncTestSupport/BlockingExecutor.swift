import Foundation

/// Runs each job of the tasks that prefer it on a thread of its own. Tests
/// that block (child processes, waitpid, server starts, appends of tens of
/// megabytes) share one process with every other test target; on the few
/// cooperative threads (two on two cores) that would stall every async test
/// in the process, and a Postgres connection waiting to authenticate is
/// closed after `authentication_timeout`.
public final class BlockingExecutor: TaskExecutor {
    public static let shared = BlockingExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs `body`, blocking calls included, off the cooperative thread pool
/// (task-locals, and so the current test, stay as they are).
public func offPool<T>(_ body: () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(BlockingExecutor.shared) { try await body() }
}
