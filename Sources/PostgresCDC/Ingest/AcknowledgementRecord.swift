import LogStore
import Synchronization
import SystemPackage

/// Keeps `acknowledged_lsn` in the log's `source` ahead of what the slot is
/// told, so that the next start can tell the ingester's own acknowledgements
/// from a slot that somebody else moved on (docs/CDC.md, "Gaps").
///
/// A position up to the log's last durable transaction needs no record: the
/// log itself proves it. Only a keepalive's WAL end acknowledged while the
/// stream is idle goes past the log, and that is written (atomically, with
/// fsync) before the status update that carries it.
final class AcknowledgementRecord: Sendable {
    private let directory: FilePath
    private let source: Mutex<IngestSource>

    init(source: IngestSource, logDirectory: FilePath) {
        self.directory = logDirectory
        self.source = Mutex(source)
    }

    /// Records `position` when it is past both the log's durable end and
    /// the position recorded already; call before acknowledging it.
    func willAcknowledge(_ position: LSN, durableEnd: LSN) throws {
        try source.withLock { source in
            guard position > durableEnd, position > source.acknowledgedLSN ?? .zero else { return }
            var updated = source
            updated.acknowledgedLSN = position
            try updated.save(logDirectory: directory)
            source = updated
        }
    }
}
