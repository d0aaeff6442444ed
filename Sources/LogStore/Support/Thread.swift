import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` on a new OS thread: work that blocks (the interval and
/// `.always` syncers in fdatasync, compaction, benchmark appenders) must not
/// occupy one of Swift concurrency's few cooperative threads. Package-wide,
/// so LogBench uses the same helper.
package func startThread(_ body: @escaping @Sendable () -> Void) throws -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body))
    var thread = pthread_t()
    let result = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }, box.toOpaque())
    guard result == 0 else {
        box.release()
        throw LogStoreError(.io, "cannot start a thread", underlying: Errno(rawValue: result))
    }
    return thread
}
