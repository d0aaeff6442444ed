import Foundation
import Testing

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

/// A suite or test trait that runs every test case under it as `offPool` does:
/// each job on a thread of its own. Suites whose tests block (child processes,
/// server starts) or wait against a wall-clock timeout (Postgres sessions,
/// followers) take it, so that the CPU-bound tests holding the cooperative
/// threads can neither starve them nor fire their timeouts before their
/// bodies ran (the TLS test once timed out after 20 s of waiting for a thread).
public struct OffPoolTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OffPoolTrait? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await AsyncTestSupport.offPool { try await function() }
    }
}

extension Trait where Self == OffPoolTrait {
    /// Runs the suite's or test's cases off the cooperative thread pool (see `OffPoolTrait`).
    public static var offPool: Self { OffPoolTrait() }
}
