/// The record headers `logd ingest postgres` writes (docs/CDC.md, "Records"
/// and "Position and exactly once"): the one place their names are spelled.
///
/// `op`, `commit_lsn` and `tx_ordinal` are also fields of the JSON value
/// (`op` at the top, the other two in `source`): the same facts, told twice so
/// that a consumer can route and position by headers without parsing the value.
/// The JSON field names are the envelope's and are written where the envelope
/// is (`ChangeEnvelope`); `CDCHeader` names the headers only.
public enum CDCHeader {
    /// The table as `schema.name`; absent on logical messages.
    public static let table = "table"
    /// The operation: `c`, `u`, `d`, `r`, `t`, `m` or `s`, as the value's `op`.
    public static let operation = "op"
    /// The transaction's commit LSN, as the value's `source.commit_lsn`.
    public static let commitLSN = "commit_lsn"
    /// The record's position within its transaction, from 0, as the value's
    /// `source.tx_ordinal`.
    public static let transactionOrdinal = "tx_ordinal"
    /// On the last record of a transaction only: the end of its commit record,
    /// the position acknowledged to Postgres and resumed from.
    public static let transactionEndLSN = "tx_end_lsn"
    /// On the last record of a transaction only: its number in the log, from 1.
    public static let transactionSequence = "tx_seq"
    /// On logical messages only (op `m`): the message's prefix, as the value's
    /// `message.prefix`.
    public static let messagePrefix = "prefix"
}
