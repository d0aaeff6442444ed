import LogStore
import PostgresCDC

/// What `logd stat` adds for a log written by `logd ingest postgres`: where
/// its changes come from and how far they reach.
struct IngestStat {
    var source: IngestSource
    var checkpoint: IngestCheckpoint?
    /// Streamed transactions staged by a running ingest, not committed yet.
    var inFlight: (transactions: Int, bytes: Int64)

    /// nil for a log that was not ingested.
    static func load(_ log: Log) throws -> IngestStat? {
        guard let source = try IngestSource.load(logDirectory: log.directory) else { return nil }
        return IngestStat(
            source: source, checkpoint: try IngestCheckpoint.read(from: log),
            inFlight: StreamStaging.inFlight(logDirectory: log.directory))
    }

    func writeText(to output: OutputBuffer) {
        output.write("source:        postgres \(source.host):\(source.port)/\(source.database) (system \(source.systemID))\n")
        let positions = [
            source.slotCreatedLSN.map { "created by logd at \($0)" },
            // What the ingester acknowledged: its last durable transaction's end, or a keepalive's
            // position past it (recorded before Postgres heard it, docs/CDC.md "Gaps").
            [source.acknowledgedLSN, checkpoint?.endLSN].compactMap { $0 }.max().map { "acknowledged up to \($0)" },
        ].compactMap { $0 }
        output.write("slot:          \(source.slot)\(positions.isEmpty ? "" : " (\(positions.joined(separator: ", ")))")\n")
        output.write("publication:   \(source.publications.joined(separator: ","))\n")
        output.write("snapshot:      \(source.snapshot.rawValue)\n")
        output.write("last commit:   \(checkpoint.map { "\($0.commitLSN) (end \($0.endLSN))" } ?? "none")\n")
        output.write("transactions:  \(checkpoint?.transactionCount ?? 0)\n")
        output.write("in flight:     \(inFlight.transactions) streamed transactions, \(inFlight.bytes) bytes staged\n")
        output.write(
            "gaps:          \(source.gaps)"
                + (source.lastGap.map { " (last: changes after \($0.replacingOccurrences(of: "..", with: " up to ")) missing)" }
                    ?? "") + "\n")
    }

    /// `,"source":{...}` for the JSON form.
    func writeJSON(to output: OutputBuffer) {
        output.write(",\"source\":{\"type\":\"postgres\",\"host\":")
        output.writeJSONString(source.host)
        output.write(",\"port\":\(source.port),\"database\":")
        output.writeJSONString(source.database)
        output.write(",\"system_id\":")
        output.writeJSONString(source.systemID)
        output.write(",\"slot\":")
        output.writeJSONString(source.slot)
        output.write(",\"slot_created_lsn\":" + (source.slotCreatedLSN.map { "\"\($0)\"" } ?? "null"))
        output.write(",\"acknowledged_lsn\":" + (source.acknowledgedLSN.map { "\"\($0)\"" } ?? "null"))
        output.write(",\"publication\":")
        output.writeJSONString(source.publications.joined(separator: ","))
        output.write(",\"snapshot\":")
        output.writeJSONString(source.snapshot.rawValue)
        if let checkpoint {
            output.write(",\"last_commit_lsn\":\"\(checkpoint.commitLSN)\",\"last_end_lsn\":\"\(checkpoint.endLSN)\"")
        } else {
            output.write(",\"last_commit_lsn\":null,\"last_end_lsn\":null")
        }
        output.write(",\"transactions\":\(checkpoint?.transactionCount ?? 0),\"gaps\":\(source.gaps),\"last_gap\":")
        if let lastGap = source.lastGap { output.writeJSONString(lastGap) } else { output.write("null") }
        output.write(",\"in_flight_transactions\":\(inFlight.transactions),\"staged_bytes\":\(inFlight.bytes)}")
    }
}
