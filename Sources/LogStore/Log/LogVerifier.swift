import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `Log.verify` found.
public struct VerifyReport: Sendable {
    /// Damage: data that cannot be read back as written.
    public struct Problem: Sendable, CustomStringConvertible {
        public var file: String
        public var offset: Int64?
        public var position: Int64?
        public var message: String

        public var description: String {
            var details = ["file \(file)"]
            if let offset { details.append("offset \(offset)") }
            if let position { details.append("position \(position)") }
            return message + " (" + details.joined(separator: ", ") + ")"
        }
    }

    public var segments = 0
    public var batches = 0
    public var records: Int64 = 0
    public var bytes: Int64 = 0
    /// Damage; empty when the log is clean.
    public var problems: [Problem] = []
    /// Things the next open repairs by itself (a torn tail after a crash, a
    /// stale index of the active segment).
    public var notes: [String] = []

    public var isClean: Bool { problems.isEmpty }
}

extension Log {
    /// Checks a closed log: every batch's CRC-32C and offset sequence, every
    /// index entry against the store, and that segments follow each other.
    /// Reads only; repairs nothing.
    /// - Throws: `.unavailable` when a process has the log open, `.io` when
    ///   the directory cannot be read.
    public static func verify(directory: FilePath) throws -> VerifyReport {
        guard FileSystem.exists(directory.appending(lockFileName)) || FileSystem.exists(directory) else {
            throw LogStoreError(.invalidArgument, "no log here", path: directory.string)
        }
        let lockFile = try OpenFile(path: directory.appending(lockFileName), options: [.create])
        if flock(lockFile.descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
            throw LogStoreError(.unavailable, "log is open in another process; verify a closed log", path: directory.string)
        }
        defer { flock(lockFile.descriptor.rawValue, LOCK_UN) }
        let names = try FileSystem.listDirectory(directory)
        let bases = names.compactMap { Segment.baseOffset(fileName: $0, suffix: "store") }.sorted()
        let clean = names.contains(cleanShutdownMarker)
        var report = VerifyReport()
        var expectedBase: Int64?
        for (number, base) in bases.enumerated() {
            let isLast = number == bases.count - 1
            let store = try OpenFile(path: Segment.storePath(in: directory, baseOffset: base), options: [], mode: .readOnly)
            let storeSize = try store.size()
            let storeName = store.path.string
            report.segments += 1
            report.bytes += storeSize
            if let expectedBase, expectedBase != base {
                report.problems.append(
                    .init(
                        file: storeName, offset: expectedBase,
                        message: "segment starts at offset \(base) but the segment before ends at \(expectedBase)"))
            }
            var expectedEntries: [IndexEntry] = []
            let scan = try StoreScanner(file: store, fileSize: storeSize).scan(baseOffset: base) { position, header in
                var entry = header.indexEntry(segmentBase: base, position: position)
                if let previous = expectedEntries.last { entry.maxTimestamp = max(entry.maxTimestamp, previous.maxTimestamp) }
                expectedEntries.append(entry)
            }
            report.batches += scan.batchCount
            report.records += scan.nextOffset - base
            expectedBase = scan.nextOffset
            // A compaction killed while swapping this segment: the next open finishes it.
            let swapping =
                names.contains(Segment.fileName(baseOffset: base, suffix: "store") + Log.swapSuffix)
                || names.contains(Segment.fileName(baseOffset: base, suffix: "index") + Log.cleanedSuffix)
            if swapping {
                report.notes.append("an interrupted compaction of \(storeName) is finished or rolled back by the next open")
            }
            let recoverable = (isLast && !clean) || swapping
            if let damage = scan.damage {
                if recoverable && damage.isTail {
                    report.notes.append(
                        "torn tail in \(storeName) at position \(damage.position) (\(damage.problem)): the next open cuts \(storeSize - damage.position) bytes"
                    )
                } else if recoverable && damage.isLostWrite && !swapping {
                    report.notes.append(
                        "a write lost by a crash in \(storeName) at position \(damage.position) (zeros where a batch should be): the next open moves the \(storeSize - damage.position) bytes from there into a quarantine file and cuts"
                    )
                } else {
                    report.problems.append(
                        .init(
                            file: storeName, offset: damage.expectedOffset, position: damage.position,
                            message: "\(damage.problem)"))
                }
            }
            // The index must list exactly the batches the scan found.
            let indexPath = Segment.indexPath(in: directory, baseOffset: base)
            // After a stop that was not clean, a missing index, or one that ends in zeros, is what an
            // open killed while it rebuilt this index leaves (say, one finishing an interrupted
            // compaction): the next open never trusts such an index and rebuilds it from the store.
            guard FileSystem.exists(indexPath) else {
                let message = "index file is missing"
                if recoverable || !clean {
                    report.notes.append("\(message): \(indexPath.string) is rebuilt on open")
                } else {
                    report.problems.append(.init(file: indexPath.string, message: message))
                }
                continue
            }
            let index = try FileSystem.readFile(indexPath)
            let rebuiltOnOpen = !clean && Self.endsInZeros(index)
            if let mismatch = indexMismatch(index: index, batches: expectedEntries, allowZeroTail: recoverable || rebuiltOnOpen) {
                if recoverable || rebuiltOnOpen {
                    report.notes.append("index \(indexPath.string) is stale (\(mismatch.message)); the next open rebuilds it")
                } else {
                    report.problems.append(
                        .init(
                            file: indexPath.string, offset: mismatch.entry.map { base + Int64($0) }, position: mismatch.position,
                            message: mismatch.message))
                }
            } else if rebuiltOnOpen && !recoverable {
                report.notes.append("index \(indexPath.string) ends in zeros (an interrupted rebuild); the next open rebuilds it")
            }
        }
        return report
    }

    /// Whether the index is empty or its last whole entry is all zeros: an
    /// index `open` rebuilds (`trustedIndex` wants the last entry to name the
    /// store's last batch, which a zero entry is only for a lone batch at 0,
    /// and then it is that batch's entry but for its maximum timestamp).
    static func endsInZeros(_ index: [UInt8]) -> Bool {
        let size = IndexLayout.entrySize
        let whole = index.count / size * size
        guard whole > 0 else { return true }
        return index[(whole - size)..<whole].allSatisfy { $0 == 0 }
    }

    /// The first way `index` disagrees with the batches found in the store.
    private static func indexMismatch(index: [UInt8], batches: [IndexEntry], allowZeroTail: Bool)
        -> (message: String, entry: UInt32?, position: Int64?)?
    {
        let size = IndexLayout.entrySize
        let count = index.count / size
        if index.count % size != 0 && !allowZeroTail {
            return ("index size \(index.count) is not a multiple of \(size)", nil, nil)
        }
        return index.withUnsafeBytes { bytes in
            for number in 0..<max(count, batches.count) {
                if number >= count {
                    return ("index has \(count) entries, the store \(batches.count) batches", nil, nil)
                }
                guard let base = bytes.baseAddress else { return ("index is empty", nil, nil) }
                let entry = IndexEntry(loadingFrom: base + number * size)
                if number >= batches.count {
                    if allowZeroTail && entry == IndexEntry(relativeOffset: 0, position: 0, maxTimestamp: 0) { continue }
                    return ("index has an entry \(number) past the last batch", entry.relativeOffset, entry.position)
                }
                let expected = batches[number]
                if entry != expected {
                    return (
                        "index entry \(number) says offset +\(entry.relativeOffset) at position \(entry.position) with max timestamp \(entry.maxTimestamp), "
                            + "the store has +\(expected.relativeOffset) at \(expected.position) with max timestamp \(expected.maxTimestamp)",
                        expected.relativeOffset, expected.position
                    )
                }
            }
            return nil
        }
    }
}
