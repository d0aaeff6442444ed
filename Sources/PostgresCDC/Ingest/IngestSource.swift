import LogStore
import SystemPackage

/// Where an ingested log's records come from, kept in the log directory as
/// the metadata file `source` (`key=value` lines). Written before the first
/// record; an ingest into the log from another server, database or slot is
/// refused, because the log's positions would mean nothing there.
public struct IngestSource: Sendable, Hashable {
    public static let fileName = "source"

    /// `IDENTIFY_SYSTEM`'s system identifier.
    public var systemID: String
    public var host: String
    public var port: Int
    public var database: String
    public var user: String
    public var slot: String
    /// The publications of the last run, kept as one comma-separated
    /// `publication=` line (a file written for one publication reads as a
    /// list of one). They may change from run to run.
    public var publications: [String]
    /// Where the initial snapshot (or the last resnapshot) stands.
    public var snapshot: SnapshotState
    /// Gaps recorded in the log (op `g` markers), and the last one's range
    /// (`after_lsn..until_lsn`).
    public var gaps: Int = 0
    public var lastGap: String?
    /// Set (to the reason) from before a new slot is made for a gap until its
    /// marker is durable: a run that finds it set redoes the gap's handling
    /// rather than stream from a slot the log does not follow on from.
    public var gapPending: String?
    /// The consistent point of the slot logd created for this log: a slot of
    /// the same name whose `confirmed_flush_lsn` is below it is another slot.
    public var slotCreatedLSN: LSN?
    /// The furthest position this log's ingester may have told the slot
    /// beyond the log's last transaction (recorded before Postgres hears
    /// it), or where it found the slot when it took it on. A slot whose
    /// `confirmed_flush_lsn` is past both this and the log's end was moved on
    /// by somebody else: a gap (docs/CDC.md, "Gaps").
    public var acknowledgedLSN: LSN?

    public enum SnapshotState: String, Sendable, Hashable {
        /// No snapshot was asked for: the log starts at the slot's position.
        case none
        /// Copying: an ingest that finds this state (after a crash) has to
        /// start the snapshot over with a new slot.
        case started
        case done
    }

    public init(
        systemID: String, host: String, port: Int, database: String, user: String, slot: String, publications: [String],
        snapshot: SnapshotState
    ) {
        self.systemID = systemID
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.slot = slot
        self.publications = publications
        self.snapshot = snapshot
    }

    /// The stored source of the log in `directory`, nil when it has none.
    /// - Throws: `IngestError.notAnIngestedLog` for a file that does not parse.
    public static func load(logDirectory directory: FilePath) throws -> IngestSource? {
        guard let bytes = try LogMetadataFile.read(named: fileName, in: directory) else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let systemID = fields["system_id"], let host = fields["host"], let port = fields["port"].flatMap({ Int($0) }),
            let database = fields["database"], let user = fields["user"], let slot = fields["slot"],
            let publication = fields["publication"],
            let snapshot = fields["snapshot"].flatMap({ SnapshotState(rawValue: $0) })
        else {
            throw IngestError(
                .notAnIngestedLog, "\(directory.appending(fileName)) is damaged: it lacks a field or a field does not parse")
        }
        var source = IngestSource(
            systemID: systemID, host: host, port: port, database: database, user: user, slot: slot,
            publications: publication.split(separator: ",").map(String.init), snapshot: snapshot)
        // Fields added later: absent from older files.
        source.gaps = fields["gaps"].flatMap { Int($0) } ?? 0
        source.lastGap = fields["last_gap"]
        source.gapPending = fields["gap_pending"]
        source.slotCreatedLSN = fields["slot_created_lsn"].flatMap { LSN($0) }
        source.acknowledgedLSN = fields["acknowledged_lsn"].flatMap { LSN($0) }
        return source
    }

    /// Writes the source into the log in `directory`, atomically.
    public func save(logDirectory directory: FilePath) throws {
        let text = """
            type=postgres
            system_id=\(systemID)
            host=\(host)
            port=\(port)
            database=\(database)
            user=\(user)
            slot=\(slot)
            publication=\(publications.joined(separator: ","))
            snapshot=\(snapshot.rawValue)
            gaps=\(gaps)

            """ + (lastGap.map { "last_gap=\($0)\n" } ?? "") + (gapPending.map { "gap_pending=\($0)\n" } ?? "")
            + (slotCreatedLSN.map { "slot_created_lsn=\($0)\n" } ?? "")
            + (acknowledgedLSN.map { "acknowledged_lsn=\($0)\n" } ?? "")
        try LogMetadataFile.write(Array(text.utf8), named: Self.fileName, in: directory)
    }

    /// Whether `other` is the same stream of changes (host and port may change:
    /// a server can move; the system, database and slot may not).
    public func isSameStream(as other: IngestSource) -> Bool {
        systemID == other.systemID && database == other.database && slot == other.slot
    }
}
