import Synchronization
import SystemPackage

/// A `.store` file and its `.index`, named by the segment's base offset
/// zero-padded to 20 digits.
final class Segment: Sendable {
    let baseOffset: Int64
    let store: OpenFile
    let index: SegmentIndex
    /// What of the store this process has checked (`VerifiedRanges`); a
    /// segment object made again (`reopenedForWriting`) starts with none.
    let verified = Mutex(VerifiedRanges())

    init(baseOffset: Int64, store: OpenFile, index: SegmentIndex) {
        self.baseOffset = baseOffset
        self.store = store
        self.index = index
    }

    /// Records that the batches in `range` of the store were checked (or written by this process).
    func noteVerified(_ range: Range<Int64>) {
        verified.withLock { $0.insert(range) }
    }

    static func fileName(baseOffset: Int64, suffix: String) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "." + suffix
    }

    static func storePath(in directory: FilePath, baseOffset: Int64) -> FilePath {
        directory.appending(fileName(baseOffset: baseOffset, suffix: "store"))
    }

    static func indexPath(in directory: FilePath, baseOffset: Int64) -> FilePath {
        directory.appending(fileName(baseOffset: baseOffset, suffix: "index"))
    }

    /// The base offset named by a segment file name (`<20 digits>.store`), or nil.
    static func baseOffset(fileName: String, suffix: String) -> Int64? {
        let ending = "." + suffix
        guard fileName.hasSuffix(ending) else { return nil }
        let digits = fileName.dropLast(ending.count)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(digits)
    }

    /// Creates an empty segment with a preallocated index.
    static func create(in directory: FilePath, baseOffset: Int64, indexBytes: Int) throws -> Segment {
        let store = try OpenFile(path: storePath(in: directory, baseOffset: baseOffset), options: [.create, .truncate])
        let indexFile = try OpenFile(path: indexPath(in: directory, baseOffset: baseOffset), options: [.create, .truncate])
        let index = try SegmentIndex(file: indexFile, count: 0, preallocateBytes: indexBytes)
        return Segment(baseOffset: baseOffset, store: store, index: index)
    }

    /// The same files with a fresh writable index holding `count` entries: a
    /// sealed segment made active again (after a truncation), or the active
    /// segment on open. Readers of the old object keep their mapping.
    func reopenedForWriting(indexCount: Int, indexBytes: Int) throws -> Segment {
        let index = try SegmentIndex(file: index.file, count: indexCount, preallocateBytes: indexBytes)
        return Segment(baseOffset: baseOffset, store: store, index: index)
    }
}

/// How much of a segment a reader may look at: the bytes, index entries and
/// offsets that were written out when the view was published.
struct SegmentExtent: Sendable {
    var segment: Segment
    /// Bytes of the store that hold whole batches.
    var storeSize: Int64
    /// Index entries valid for those bytes.
    var indexCount: Int
    /// One past the last offset in those bytes.
    var nextOffset: Int64

    var baseOffset: Int64 { segment.baseOffset }
    var isEmpty: Bool { indexCount == 0 }

    /// The number of the index entry of the batch that holds `offset` (the
    /// last entry at or below it).
    /// - Throws: `.corruption` when the index has none.
    func entryNumber(holding offset: Int64) throws -> Int {
        guard let number = segment.index.search(relativeOffset: UInt32(offset - baseOffset), count: indexCount) else {
            throw LogStoreError(
                .corruption, "index has no entry at or below offset \(offset)", path: segment.index.file.path.string,
                offset: offset)
        }
        return number
    }
}
