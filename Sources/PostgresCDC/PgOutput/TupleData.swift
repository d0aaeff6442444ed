/// The column values of one row as pgoutput sends them (`TupleData`), in the
/// order of the relation's columns.
///
/// Text and binary values are slices of the decoded message's buffer, so a
/// tuple costs one array of cases and no copy of its bytes.
public struct TupleData: Hashable, Sendable {
    public var columns: [TupleValue]

    public init(columns: [TupleValue]) {
        self.columns = columns
    }
}

/// One column value of a `TupleData`.
public enum TupleValue: Hashable, Sendable {
    /// `'n'`: SQL NULL (also every non-key column of a `'K'` old tuple).
    case null
    /// `'u'`: an unchanged TOASTed value that the update did not send. Never a
    /// NULL: see DESIGN.md "Postgres CDC rules".
    case unchangedToast
    /// `'t'`: the value in the type's text output format (client encoding).
    case text(ArraySlice<UInt8>)
    /// `'b'`: the value in the type's binary format (only with `binary 'true'`).
    case binary(ArraySlice<UInt8>)

    /// The kind byte pgoutput uses for this case.
    public var kind: UInt8 {
        switch self {
        case .null: UInt8(ascii: "n")
        case .unchangedToast: UInt8(ascii: "u")
        case .text: UInt8(ascii: "t")
        case .binary: UInt8(ascii: "b")
        }
    }
}
