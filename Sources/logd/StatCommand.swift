import ArgumentParser
import LogStore

struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show a log's segments, offsets and size.",
        discussion: "Works while another process appends to the log."
    )

    @OptionGroup var data: DataDirectoryOptions

    @Argument(help: "The log to describe.")
    var log: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws { try DataDirectoryOptions.validate(logName: log) }

    func run() throws {
        let opened = try data.openForReading(log)
        defer { try? opened.close() }
        let ingest = try IngestStat.load(opened)
        let segments = try opened.segments()
        let lowest = opened.lowestOffset
        let next = opened.nextOffset
        let totalBytes = segments.reduce(Int64(0)) { $0 + $1.storeBytes + $1.indexBytes }
        let storage = try opened.storageStats()
        let byCodec = storage.compressedBatchesByCodec.sorted { $0.key < $1.key }
        let output = OutputBuffer()
        if json {
            output.write("{\"log\":")
            output.writeJSONString(log)
            output.write(
                ",\"lowest_offset\":\(lowest),\"next_offset\":\(next),\"records\":\(next - lowest),\"total_bytes\":\(totalBytes),"
            )
            output.write(
                "\"stored_records\":\(storage.records),\"stored_bytes\":\(storage.storedBytes),\"raw_bytes\":\(storage.rawBytes),"
                    + "\"compressed_batches\":\(storage.compressedBatches),\"compressed_batches_by_codec\":{"
                    + byCodec.map { "\"\($0.key)\":\($0.value)" }
                    .joined(separator: ",") + "},\"segments\":[")
            for (number, segment) in segments.enumerated() {
                if number > 0 { output.write(",") }
                output.write(
                    "{\"base_offset\":\(segment.baseOffset),\"next_offset\":\(segment.nextOffset),\"records\":\(segment.recordCount),"
                        + "\"batches\":\(segment.batchCount),\"store_bytes\":\(segment.storeBytes),\"index_bytes\":\(segment.indexBytes),"
                        + "\"active\":\(segment.isActive)}")
            }
            output.write("]")
            ingest?.writeJSON(to: output)
            output.write("}\n")
        } else {
            output.write("log:           \(log)\n")
            output.write("lowest offset: \(lowest)\n")
            output.write("next offset:   \(next)\n")
            output.write("records:       \(next - lowest)\n")
            output.write("total bytes:   \(totalBytes)\n")
            output.write(
                "stored:        \(storage.records) records, \(storage.storedBytes) bytes of batches (raw \(storage.rawBytes) bytes"
            )
            // "3 of 5 batches compressed: gzip 2, zstd 1".
            let codecs = byCodec.map { "\($0.key) \($0.value)" }
            output.write(
                storage.compressedBatches > 0
                    ? ", \(storage.compressedBatches) of \(storage.batches) batches compressed: \(codecs.joined(separator: ", ")))\n"
                    : ")\n")
            output.write("segments:      \(segments.count)\n")
            output.write(
                pad("BASE OFFSET", 22) + pad("RECORDS", 12) + pad("BATCHES", 10) + pad("STORE BYTES", 14) + "INDEX BYTES\n")
            for segment in segments {
                output.write(
                    pad(String(segment.baseOffset), 22) + pad(String(segment.recordCount), 12)
                        + pad(String(segment.batchCount), 10)
                        + pad(String(segment.storeBytes), 14) + String(segment.indexBytes)
                        + (segment.isActive ? "  (active)" : "") + "\n")
            }
            ingest?.writeText(to: output)
        }
        output.flush()
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
