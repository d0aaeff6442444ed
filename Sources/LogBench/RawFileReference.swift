import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The references the log is compared with: the same bytes moved with plain
/// `pwrite`/`pread`/`fdatasync` on a file in the same directory, in the same run.
enum RawFileReference {
    /// Seconds to write `totalBytes` sequentially in `blockBytes` pwrites to a
    /// new file, then (when `sync`) one `fdatasync`. The file is deleted after.
    static func sequentialWrite(at path: FilePath, totalBytes: Int, blockBytes: Int = 1 << 20, sync: Bool) throws -> Double {
        let file = try open(path)
        defer {
            try? file.close()
            unlink(path.string)
        }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 4096)
        defer { block.deallocate() }
        fillPattern(block)
        return try measureSeconds {
            var position = 0
            while position < totalBytes {
                let count = min(blockBytes, totalBytes - position)
                _ = try file.writeAll(toAbsoluteOffset: Int64(position), UnsafeRawBufferPointer(rebasing: block[0..<count]))
                position += count
            }
            if sync { try syncData(file, path) }
        }
    }

    /// Seconds to append `batches` writes of `batchBytes` each followed by an
    /// `fdatasync`, as a log under `SyncPolicy.always` does for one appender.
    static func syncedBatches(at path: FilePath, batchBytes: Int, batches: Int) throws -> Double {
        let file = try open(path)
        defer {
            try? file.close()
            unlink(path.string)
        }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: batchBytes, alignment: 64)
        defer { block.deallocate() }
        fillPattern(block)
        return try measureSeconds {
            for batch in 0..<batches {
                _ = try file.writeAll(toAbsoluteOffset: Int64(batch * batchBytes), UnsafeRawBufferPointer(block))
                try syncData(file, path)
            }
        }
    }

    /// Seconds to read the files at `paths` front to back in `blockBytes` preads
    /// into one reused buffer; also returns the bytes read.
    static func sequentialRead(_ paths: [FilePath], blockBytes: Int = 1 << 20) throws -> (seconds: Double, bytes: Int) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 4096)
        defer { block.deallocate() }
        var total = 0
        var checksum: UInt8 = 0
        let files = try paths.map { try FileDescriptor.open($0, .readOnly, options: .closeOnExec) }
        defer { for file in files { try? file.close() } }
        let seconds = try measureSeconds {
            for file in files {
                var position: Int64 = 0
                while true {
                    let count = try file.read(fromAbsoluteOffset: position, into: block)
                    if count == 0 { break }
                    checksum ^= block[count - 1]
                    position += Int64(count)
                    total += count
                }
            }
        }
        opaqueUse(checksum)
        return (seconds, total)
    }

    /// Nanoseconds of each pread of `length` bytes at `positions` of `path`.
    static func randomReads(_ path: FilePath, positions: [Int64], length: Int) throws -> [UInt64] {
        let file = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
        defer { try? file.close() }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 64)
        defer { block.deallocate() }
        var latencies = [UInt64](repeating: 0, count: positions.count)
        var checksum: UInt8 = 0
        for (index, position) in positions.enumerated() {
            let start = monotonicNanoseconds()
            let count = try file.read(fromAbsoluteOffset: position, into: block)
            latencies[index] = monotonicNanoseconds() - start
            if count > 0 { checksum ^= block[count - 1] }
        }
        opaqueUse(checksum)
        return latencies
    }

    private static func open(_ path: FilePath) throws -> FileDescriptor {
        try FileDescriptor.open(
            path, .readWrite, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
    }

    static func syncData(_ file: FileDescriptor, _ path: FilePath) throws {
        while fdatasync(file.rawValue) != 0 {
            if errno == EINTR { continue }
            throw BenchError("fdatasync of \(path) failed: \(String(cString: strerror(errno)))")
        }
    }

    private static func fillPattern(_ buffer: UnsafeMutableRawBufferPointer) {
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
    }
}

/// Keeps the optimizer from deleting work whose result is otherwise unused.
@inline(never)
func opaqueUse<T>(_ value: T) {}
