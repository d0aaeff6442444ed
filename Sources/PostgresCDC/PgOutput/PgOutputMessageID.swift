/// The first byte of each pgoutput message (PostgreSQL "Logical Replication
/// Message Formats"), with the name error messages use.
enum PgOutputMessageID: UInt8, Sendable {
    case begin = 66  // ascii: B
    case commit = 67  // ascii: C
    case origin = 79  // ascii: O
    case relation = 82  // ascii: R
    case type = 89  // ascii: Y
    case insert = 73  // ascii: I
    case update = 85  // ascii: U
    case delete = 68  // ascii: D
    case truncate = 84  // ascii: T
    case message = 77  // ascii: M
    // Streaming (protocol version 2 and later).
    case streamStart = 83  // ascii: S
    case streamStop = 69  // ascii: E
    case streamCommit = 99  // ascii: c
    case streamAbort = 65  // ascii: A
    // Two-phase (3 and later): never asked for, skipped, never decoded.
    case beginPrepare = 98  // ascii: b
    case prepare = 80  // ascii: P
    case commitPrepared = 75  // ascii: K
    case rollbackPrepared = 114  // ascii: r
    case streamPrepare = 112  // ascii: p

    /// `Update`, ...; nil for the two-phase messages.
    var name: String? {
        switch self {
        case .begin: "Begin"
        case .commit: "Commit"
        case .origin: "Origin"
        case .relation: "Relation"
        case .type: "Type"
        case .insert: "Insert"
        case .update: "Update"
        case .delete: "Delete"
        case .truncate: "Truncate"
        case .message: "Message"
        case .streamStart: "Stream Start"
        case .streamStop: "Stream Stop"
        case .streamCommit: "Stream Commit"
        case .streamAbort: "Stream Abort"
        case .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare: nil
        }
    }
}
