import LogStore

/// Sends standby status updates on a timer of its own, so a slow log (or a
/// paused ingest loop) never lets `wal_sender_timeout` end the connection:
/// every `interval`, when the server asks, and within 100 ms of the
/// acknowledgeable position moving. Ends the stream (final update, then
/// CopyDone) when stopped or, with a target, once the target is durable.
struct StatusTimer {
    let sender: StandbyStatusSender
    let acknowledger: IngestAcknowledger
    /// Told every position past the log's durable end before the slot is.
    let record: AcknowledgementRecord
    /// Synced at once when only durability stands between the target (or a
    /// stop) and the end, instead of waiting for an interval sync.
    let log: Log
    /// `untilCaughtUp`: the WAL position to reach.
    let target: LSN?
    let interval: Duration

    static let tick = Duration.milliseconds(20)
    static let minimumSpacing = Duration.milliseconds(100)

    func run() async throws {
        let clock = ContinuousClock()
        var lastSent: LSN?
        var lastSentAt = clock.now - interval
        while true {
            try await Task.sleep(for: Self.tick)
            let (position, reply, stop) = acknowledger.state.withLock { state in
                defer { state.replyRequested = false }
                return (state.acknowledgeable, state.replyRequested, state.stopRequested)
            }
            if let target, position < target, acknowledger.onlyDurabilityMissing(for: target) {
                try? log.sync()
                continue
            }
            let caughtUp = target.map { position >= $0 } ?? false
            if stop || caughtUp {
                try await finish(caughtUp: caughtUp)
                return
            }
            let now = clock.now
            let advanced = lastSent.map { position > $0 } ?? true
            guard reply || now - lastSentAt >= interval || (advanced && now - lastSentAt >= Self.minimumSpacing) else { continue }
            // Catching up, ask for a keepalive: its WAL end moves the position on when the stream is quiet.
            try await send(position, replyRequested: target != nil && now - lastSentAt >= .seconds(1))
            lastSent = position
            lastSentAt = now
        }
    }

    /// Waits (briefly) for what is appended to become durable, acknowledges
    /// it, and ends the stream.
    private func finish(caughtUp: Bool) async throws {
        try? log.sync()
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let settled = acknowledger.state.withLock { $0.durableEnd >= $0.appendedEnd }
            if settled { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let position = acknowledger.state.withLock { state in
            state.caughtUp = caughtUp
            return state.acknowledgeable
        }
        try await send(position, replyRequested: false)
        try await sender.endStream()
    }

    private func send(_ position: LSN, replyRequested: Bool) async throws {
        try record.willAcknowledge(position, durableEnd: acknowledger.state.withLock { $0.durableEnd })
        try await sender.send(write: position, flush: position, apply: position, replyRequested: replyRequested)
        acknowledger.state.withLock { $0.acknowledged = max($0.acknowledged, position) }
    }
}
