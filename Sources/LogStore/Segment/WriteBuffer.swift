/// Appended batches not yet written to the active store file. One `pwrite`
/// per flush instead of one per append is what lets small appends run at
/// millions a second.
final class WriteBuffer {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes in the buffer.
    var count = 0
    /// Store position of the buffer's first byte.
    var startPosition: Int64 = 0

    init(capacity: Int) {
        self.capacity = capacity
        pointer = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { pointer.deallocate() }

    var endPosition: Int64 { startPosition + Int64(count) }
    var available: Int { capacity - count }

    /// Grows the buffer to hold at least `bytes` in all, keeping its content
    /// (one batch larger than the buffer; inflating a compressed batch).
    func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        grown.copyMemory(from: pointer, byteCount: count)
        pointer.deallocate()
        pointer = grown
        capacity = bytes
    }

    /// Gives back the memory of a buffer grown past `limit` bytes, once it
    /// is empty (written out). The buffer stays the same object: the log's
    /// writer holds one buffer for its whole life.
    func shrinkIfEmpty(toCapacity target: Int, above limit: Int) {
        guard count == 0, capacity > limit, target < capacity else { return }
        pointer.deallocate()
        pointer = .allocate(byteCount: target, alignment: 64)
        capacity = target
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}
