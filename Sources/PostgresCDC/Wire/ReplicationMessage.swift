/// A message of the replication stream (CopyData in CopyBoth mode, PostgreSQL
/// "Streaming Replication Protocol").
public enum ReplicationMessage: Sendable, Hashable {
    /// `w`: WAL data; for logical replication, one pgoutput message.
    case xLogData(XLogData)
    /// `k`: the server's heartbeat; answer it when `replyRequested`.
    case keepalive(PrimaryKeepalive)
}

/// XLogData (`w`).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | `'w'` |
/// | 1 | 8 | dataStart: WAL position of the payload |
/// | 9 | 8 | walEnd: current end of WAL on the server |
/// | 17 | 8 | serverTime: microseconds since 2000-01-01 |
/// | 25 | n | payload (one pgoutput message) |
public struct XLogData: Sendable, Hashable {
    public var dataStart: LSN
    public var walEnd: LSN
    public var serverTime: PostgresTimestamp
    /// The pgoutput message; decode it with `PgOutputDecoder.decode(_:)`.
    public var payload: [UInt8]

    public init(dataStart: LSN, walEnd: LSN, serverTime: PostgresTimestamp, payload: [UInt8]) {
        self.dataStart = dataStart
        self.walEnd = walEnd
        self.serverTime = serverTime
        self.payload = payload
    }
}

/// Primary keepalive (`k`): walEnd (8), serverTime (8), replyRequested (1).
public struct PrimaryKeepalive: Sendable, Hashable {
    public var walEnd: LSN
    public var serverTime: PostgresTimestamp
    /// The server wants a standby status update now (else it disconnects
    /// after `wal_sender_timeout`).
    public var replyRequested: Bool

    public init(walEnd: LSN, serverTime: PostgresTimestamp, replyRequested: Bool) {
        self.walEnd = walEnd
        self.serverTime = serverTime
        self.replyRequested = replyRequested
    }
}

/// Standby status update (`r`), the client's acknowledgement.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 1 | `'r'` |
/// | 1 | 8 | write: last WAL byte + 1 received and written |
/// | 9 | 8 | flush: last WAL byte + 1 durably stored (the slot's confirmed_flush_lsn follows it) |
/// | 17 | 8 | apply: last WAL byte + 1 applied |
/// | 25 | 8 | clientTime: microseconds since 2000-01-01 |
/// | 33 | 1 | replyRequested: 1 asks the server for a keepalive at once |
public struct StandbyStatusUpdate: Sendable, Hashable {
    public var write: LSN
    public var flush: LSN
    public var apply: LSN
    public var clientTime: PostgresTimestamp
    public var replyRequested: Bool

    public init(write: LSN, flush: LSN, apply: LSN, clientTime: PostgresTimestamp, replyRequested: Bool) {
        self.write = write
        self.flush = flush
        self.apply = apply
        self.clientTime = clientTime
        self.replyRequested = replyRequested
    }

    var bytes: [UInt8] {
        var bytes: [UInt8] = [ReplicationMessageID.standbyStatusUpdate.rawValue]
        bytes.reserveCapacity(34)
        for value in [write.rawValue, flush.rawValue, apply.rawValue, UInt64(bitPattern: clientTime.rawValue)] {
            withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(replyRequested ? 1 : 0)
        return bytes
    }
}
