import LogStore
import Synchronization

/// What may be acknowledged to Postgres, shared by the ingest loop (which
/// appends), the durability waiter and the status timer.
///
/// The rule (DESIGN.md, "Postgres CDC rules"): acknowledge (write = flush)
/// only the commit end LSN of the last transaction that is durable in the
/// log; when nothing is in flight, a keepalive's WAL end, so the slot does
/// not pin WAL while the published tables are quiet.
final class IngestAcknowledger: Sendable {
    struct State {
        /// End LSN of the last transaction known durable in the log.
        var durableEnd: LSN
        /// End LSN of the last transaction appended (or found already stored).
        var appendedEnd: LSN
        /// A keepalive's WAL end seen outside a transaction, with the
        /// `appendedEnd` of that moment: acknowledgeable once that is durable.
        var idle: (walEnd: LSN, after: LSN)?
        /// The server asked for a status update.
        var replyRequested = false
        var stopRequested = false
        /// The last position sent in a status update.
        var acknowledged: LSN = .zero
        /// The status timer ended the stream because the target was reached.
        var caughtUp = false

        /// The position to acknowledge now.
        var acknowledgeable: LSN {
            var position = durableEnd
            if let idle, durableEnd >= idle.after { position = max(position, idle.walEnd) }
            return position
        }
    }

    let state: Mutex<State>

    init(start: LSN) {
        state = Mutex(State(durableEnd: start, appendedEnd: start))
    }

    /// The ingest loop appended (or skipped, as already stored) a transaction ending at `end`.
    func appended(end: LSN) {
        state.withLock { $0.appendedEnd = max($0.appendedEnd, end) }
    }

    /// Everything up to the transaction ending at `end` is durable.
    func durable(end: LSN) {
        state.withLock { $0.durableEnd = max($0.durableEnd, end) }
    }

    /// A keepalive arrived; `inTransaction` when the ingest loop is inside one.
    func keepalive(walEnd: LSN, inTransaction: Bool, replyRequested: Bool) {
        state.withLock { state in
            if !inTransaction { state.idle = (walEnd, state.appendedEnd) }
            if replyRequested { state.replyRequested = true }
        }
    }

    /// Whether everything up to `target` is appended (or the stream was seen
    /// idle past it) and only an fdatasync is missing.
    func onlyDurabilityMissing(for target: LSN) -> Bool {
        state.withLock { state in
            guard state.durableEnd < state.appendedEnd else { return false }
            return state.appendedEnd >= target
                || (state.idle.map { $0.walEnd >= target && $0.after <= state.appendedEnd } ?? false)
        }
    }

    func requestStop() {
        state.withLock { $0.stopRequested = true }
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }
}

/// Asks a running `PostgresIngester` to stop; usable from any thread, such
/// as a signal handler's.
public final class IngestStopSignal: Sendable {
    private let state = Mutex<(stopped: Bool, acknowledger: IngestAcknowledger?)>((false, nil))

    public init() {}

    /// Ends the run cleanly: what is appended is made durable and
    /// acknowledged, the stream is ended, the log is left on a whole
    /// transaction. Idempotent.
    public func stop() {
        let acknowledger = state.withLock { state in
            state.stopped = true
            return state.acknowledger
        }
        acknowledger?.requestStop()
    }

    public var isStopped: Bool { state.withLock { $0.stopped } }

    /// Connects a session's acknowledger; a stop that came earlier reaches it at once.
    func attach(_ acknowledger: IngestAcknowledger?) {
        let stopped = state.withLock { state in
            state.acknowledger = acknowledger
            return state.stopped
        }
        if stopped { acknowledger?.requestStop() }
    }
}
