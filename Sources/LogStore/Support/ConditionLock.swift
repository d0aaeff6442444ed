#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutex with condition variables: the log's writer lock. The main
/// condition serves the interval syncer, close and truncation; two more,
/// used alternately by successive group-commit rounds, let a round wake only
/// the appenders it made durable plus one leader for the next round, instead
/// of every waiting appender (a thundering herd that cost more CPU than the
/// fdatasync with 64 appenders on 2 cores).
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private let rounds: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if !canImport(Darwin)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        rounds = .allocate(capacity: 2)
        rounds.initialize(repeating: pthread_cond_t(), count: 2)
        pthread_cond_init(rounds, nil)
        pthread_cond_init(rounds + 1, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_cond_destroy(rounds)
        pthread_cond_destroy(rounds + 1)
        rounds.deallocate()
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// Waits for a broadcast; the lock must be held.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a broadcast or until `nanoseconds` pass; the lock must be held.
    func wait(nanoseconds: UInt64) {
        #if canImport(Darwin)
        var relative = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        pthread_cond_timedwait_relative_np(condition, mutex, &relative)
        #else
        let deadline = monotonicNanos() + nanoseconds
        var absolute = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &absolute)
        #endif
    }

    func broadcast() { pthread_cond_broadcast(condition) }

    /// Waits on the condition of group-commit round `round` (by parity); the lock must be held.
    func wait(round: UInt64) { pthread_cond_wait(rounds + Int(round % 2), mutex) }

    /// Wakes every waiter of round `round`.
    func broadcast(round: UInt64) { pthread_cond_broadcast(rounds + Int(round % 2)) }

    /// Wakes one waiter of round `round`.
    func signal(round: UInt64) { pthread_cond_signal(rounds + Int(round % 2)) }
}
