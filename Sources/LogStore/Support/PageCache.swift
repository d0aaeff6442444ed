import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a file's bytes are in the page cache: a send of them from an
/// event loop (sendfile) must not wait for the disk, which would stall
/// every connection of that loop.
enum PageCache {
    /// Whether every page of `range` of the file is cached (`mincore` on a
    /// read-only mapping of it, which reads nothing in); false when it cannot tell.
    static func isResident(_ descriptor: FileDescriptor, _ range: Range<Int64>) -> Bool {
        guard !range.isEmpty else { return true }
        let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        guard pageSize > 0 else { return false }
        let start = range.lowerBound / pageSize * pageSize
        let length = Int(range.upperBound - start)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor.rawValue, off_t(start)),
            mapping != MAP_FAILED
        else { return false }
        defer { munmap(mapping, length) }
        let pages = (length + Int(pageSize) - 1) / Int(pageSize)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: pages) { vector in
            #if canImport(Darwin)
            let done = vector.withMemoryRebound(to: CChar.self) { mincore(mapping, length, $0.baseAddress) }
            #else
            let done = mincore(mapping, length, vector.baseAddress)
            #endif
            return done == 0 && vector.allSatisfy { $0 & 1 != 0 }
        }
    }
}
