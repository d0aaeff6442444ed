/// Early writeback of the active store (Linux `sync_file_range`), so that
/// the `fdatasync` of a roll or a close finds little left to write instead
/// of a whole segment: the disk writes while appends go on.
enum Writeback {
    typealias SyncFileRange = @convention(c) (Int32, Int64, Int64, UInt32) -> Int32

    /// Start writeback once this much was written out since the last start.
    static let chunkBytes: Int64 = 8 << 20
    /// `SYNC_FILE_RANGE_WRITE`: start writing the dirty pages of the range, wait for nothing.
    static let startWrite: UInt32 = 2

    /// Glibc's `sync_file_range`; nil elsewhere (the syncs then write everything).
    static let syncFileRange = FileSystem.glibcFunction(named: "sync_file_range", as: SyncFileRange.self)
}

extension Log {
    /// Starts writeback of the active store's bytes written out since the
    /// last start, once `Writeback.chunkBytes` accumulated. No durability
    /// promise (nothing waits, nothing is reported as synced); under
    /// `.always` the syncs come often enough by themselves.
    func startWritebackIfDueLocked() {
        if case .always = options.syncPolicy { return }
        let end = writer.flushedSize
        // A truncation may have cut the store below the last start.
        let start = min(writer.writebackStarted, end)
        guard end - start >= Writeback.chunkBytes, let syncFileRange = Writeback.syncFileRange else { return }
        _ = syncFileRange(writer.active.store.descriptor.rawValue, start, end - start, Writeback.startWrite)
        writer.writebackStarted = end
    }
}
