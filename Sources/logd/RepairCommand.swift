import ArgumentParser
import KafkaServer
import LogStore
import SystemPackage

struct RepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Move a damaged log's bad data aside so that the log opens again.",
        discussion: """
            For damage a bad disk leaves (a damaged batch with good data after it, which an open refuses and \
            `logd verify` reports). In each damaged segment the bytes from the first damaged batch to the end of \
            its store are moved into a quarantine file beside it, <segment>.damaged-<first lost offset>, which \
            keeps them (nothing is deleted); the store is cut at the last good batch and its index rebuilt. An \
            empty batch covers the lost offsets: up to the next segment, which stays, or in the last segment up \
            to the last batch still recognisable, so that no offset is reused. Prints, per segment, what was kept, what was moved, the offsets lost and the good \
            batches still recognisable in the moved bytes. \
            Never automatic: nothing else repairs a log. Run with --dry-run first: it prints the same plan and \
            changes nothing. The log must be closed. Crash-safe: after an interruption, run it again. \
            A Kafka topic's further partitions (`<log>/partitions/<n>`, made by `logd serve`) are repaired too.
            """
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to repair.")
    var log: String

    @Flag(help: "Print what a repair would do; change nothing.")
    var dryRun = false

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let path = try data.logPath(log)
        try data.requireExisting(log, at: path)
        var changed = 0
        for partition in 0..<max(TopicLayout.partitionCount(of: path), 1) {
            let name = partition == 0 ? log : "\(log) partition \(partition)"
            let report = try Log.repair(directory: TopicLayout.directory(of: path, partition: partition), dryRun: dryRun)
            for note in report.notes { print("note: \(name): \(note)") }
            if report.nothingToRepair {
                print("\(name): nothing to repair: \(Self.count(report.segments, "segment")), no damage")
                continue
            }
            for repair in report.repairs { print(Self.describe(repair, dryRun: dryRun).joined(separator: "\n")) }
            changed += report.repairs.count
        }
        guard changed > 0 else { return }
        let again = data.dir.map { " --dir \($0)" } ?? ""
        if dryRun {
            print("dry run: nothing changed; `logd repair \(log)\(again)` does it")
        } else {
            print("repaired \(Self.count(changed, "segment")); `logd verify \(log)\(again)` checks the log")
        }
    }

    /// The lines for one segment: what stays, what moves where, which offsets are lost.
    static func describe(_ repair: RepairReport.SegmentRepair, dryRun: Bool) -> [String] {
        let store = FilePath(repair.store).lastComponent?.string ?? repair.store
        var lines: [String] = []
        if let problem = repair.problem {
            lines.append("\(store): damaged batch at position \(repair.keptBytes), offset \(repair.firstLostOffset): \(problem)")
        } else {
            lines.append("\(store): ends at offset \(repair.firstLostOffset), before the next segment starts")
        }
        let kept =
            repair.keptBatches == 0
            ? "nothing"
            : "offsets \(repair.baseOffset) to \(repair.firstLostOffset - 1): \(count(repair.keptBatches, "batch")), "
                + "\(count(Int(repair.keptRecords), "record")), \(count(Int(repair.keptBytes), "byte"))"
        lines.append("  \(dryRun ? "would keep" : "kept"): \(kept)")
        if let quarantine = repair.quarantineFile {
            let file = FilePath(quarantine).lastComponent?.string ?? quarantine
            lines.append("  \(dryRun ? "would move" : "moved"): \(repair.bytesMoved) bytes to \(file), which keeps them")
        }
        let lost =
            repair.lostOffsetsEnd.map { "offsets \(repair.firstLostOffset) to \($0 - 1)" }
            ?? "offsets from \(repair.firstLostOffset) (nothing recognisable after the damage tells how many)"
        lines.append("  lost: \(lost)")
        if let filled = repair.filledOffsets {
            lines.append(
                "  \(dryRun ? "would fill" : "filled"): offsets \(filled.lowerBound) to \(filled.upperBound - 1) "
                    + "with an empty batch, so the later segments stay")
        } else {
            lines.append("  appends continue at offset \(repair.firstLostOffset)")
        }
        for run in repair.recognisedAfterDamage {
            lines.append(
                "  recognisable in the moved bytes: offsets \(run.firstOffset) to \(run.lastOffset) "
                    + "(\(count(run.batches, "batch")), \(count(Int(run.records), "record"))) at position \(run.position) of the quarantine file"
            )
        }
        return lines
    }

    /// "1 batch", "2 batches".
    static func count(_ number: Int, _ noun: String) -> String {
        number == 1 ? "1 \(noun)" : "\(number) \(noun)\(noun.hasSuffix("ch") ? "es" : "s")"
    }
}
