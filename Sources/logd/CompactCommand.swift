import ArgumentParser
import LogStore

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Keep only the latest record of each key in the log's sealed segments.",
        discussion: """
            Rewrites the sealed segments (never the active one) so that each key keeps only its latest record; \
            tombstones (null values, see append --empty-as-null) are kept for delete.retention.ms after their \
            timestamp, then removed too; records without a key stay. Offsets do not change: reading a removed \
            offset gives the next record. Crash-safe at every step (an interrupted compaction is finished or \
            rolled back by the next open). Memory: a key map of --key-map-keys keys (32 bytes each); a log \
            with more keys takes several passes. With cleanup.policy=compact (logd config) appends compact \
            sealed segments in the background too.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log.")
    var log: String

    @Option(name: .customLong("key-map-keys"), help: "Keys the key map holds per pass.")
    var keyMapKeys: Int = 1 << 20

    func validate() throws {
        try DataDirectoryOptions.validate(logName: log)
        guard keyMapKeys > 0, keyMapKeys <= 1 << 28 else { throw ValidationError("--key-map-keys must be 1...268435456") }
    }

    func run() throws {
        let options = try data.storedOptions(log, LogOptions(syncPolicy: .never))
        let opened = try data.openLog(log, options: options, create: false)
        let report: CompactionReport
        do {
            report = try opened.compact(keyMapCapacity: keyMapKeys)
        } catch {
            try? opened.close()
            throw error
        }
        try opened.close()
        print(
            "\(log): rewrote \(report.segmentsRewritten) of \(report.segments) sealed segments in \(report.passes) passes; "
                + "records \(report.recordsBefore) -> \(report.recordsAfter), bytes \(report.bytesBefore) -> \(report.bytesAfter), "
                + "\(report.tombstonesRemoved) tombstones removed")
    }
}
