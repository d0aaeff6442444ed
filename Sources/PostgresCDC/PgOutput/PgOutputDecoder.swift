/// Decodes pgoutput messages (protocol version 1, and version 2's streaming
/// of in-progress transactions) from the payload of XLogData. Every field is
/// bounds-checked: malformed bytes throw a `PgOutputDecodingError` naming the
/// message and position; nothing traps.
///
/// Tuple values are slices of the input buffer (no copy per column).
public enum PgOutputDecoder {
    /// Decodes one whole message.
    ///
    /// - Parameter bytes: exactly one message, starting with its type byte.
    /// - Returns: the typed message; `.unsupported` for two-phase messages,
    ///   which are never asked for.
    /// - Throws: `PgOutputDecodingError` when the bytes are not a well-formed
    ///   message, including when bytes are left over after it.
    public static func decode(_ bytes: [UInt8]) throws(PgOutputDecodingError) -> PgOutputMessage {
        try decode(bytes[...])
    }

    /// Decodes one whole message from a slice; error positions count from the
    /// slice's start.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(PgOutputDecodingError) -> PgOutputMessage {
        try decode(bytes, inStream: false).message
    }

    /// Decodes one message of a protocol 2 stream. Between Stream Start and
    /// Stream Stop (`inStream`), the change, Relation, Type and Message
    /// messages carry the xid of their (sub)transaction after the type byte.
    /// - Returns: the message, and that xid for a message inside a stream block.
    public static func decode(_ bytes: ArraySlice<UInt8>, inStream: Bool) throws(PgOutputDecodingError) -> (
        message: PgOutputMessage, streamXid: UInt32?
    ) {
        guard let tag = bytes.first else {
            throw PgOutputDecodingError(.truncated, tag: nil, position: 0, "empty message")
        }
        var reader = PgOutputReader(bytes: bytes, tag: tag)
        reader.skip(1)
        var streamXid: UInt32?
        let id = PgOutputMessageID(rawValue: tag)
        switch id {
        case .relation, .type, .insert, .update, .delete, .truncate, .message:
            if inStream { streamXid = try reader.uint32() }
        default:
            break
        }
        let message: PgOutputMessage
        switch id {
        case .begin:
            message = .begin(
                .init(
                    finalLSN: LSN(try reader.uint64()), commitTimestamp: .init(rawValue: try reader.int64()),
                    xid: try reader.uint32()))
        case .commit:
            message = .commit(try decodeCommit(&reader))
        case .origin:
            message = .origin(.init(commitLSN: LSN(try reader.uint64()), name: try reader.string()))
        case .relation:
            message = .relation(try decodeRelation(&reader))
        case .type:
            message = .type(.init(oid: try reader.uint32(), namespace: try reader.string(), name: try reader.string()))
        case .insert:
            let relationOID = try reader.uint32()
            try reader.expect(UInt8(ascii: "N"), "expected 'N' before the new tuple")
            message = .insert(.init(relationOID: relationOID, newTuple: try decodeTuple(&reader)))
        case .update:
            message = .update(try decodeUpdate(&reader))
        case .delete:
            let relationOID = try reader.uint32()
            let marker = try reader.uint8()
            let old: PgOutputMessage.OldTuple
            switch marker {
            case UInt8(ascii: "K"): old = .key(try decodeTuple(&reader))
            case UInt8(ascii: "O"): old = .full(try decodeTuple(&reader))
            default: throw reader.error(.unexpectedByte, at: reader.position - 1, "expected 'K' or 'O', got \(marker)")
            }
            message = .delete(.init(relationOID: relationOID, oldTuple: old))
        case .truncate:
            message = .truncate(try decodeTruncate(&reader))
        case .message:
            let flags = try reader.uint8()
            let lsn = LSN(try reader.uint64())
            let prefix = try reader.string()
            let length = try reader.length()
            message = .message(.init(flags: flags, lsn: lsn, prefix: prefix, content: try reader.bytes(length)))
        case .streamStart:
            message = .streamStart(.init(xid: try reader.uint32(), isFirstSegment: try reader.uint8() == 1))
        case .streamStop:
            message = .streamStop
        case .streamCommit:
            message = .streamCommit(.init(xid: try reader.uint32(), commit: try decodeCommit(&reader)))
        case .streamAbort:
            // Protocol 4 adds the abort's LSN and time after the two xids: not asked for, not read.
            message = .streamAbort(.init(xid: try reader.uint32(), subtransactionXid: try reader.uint32()))
            return (message, nil)
        case .beginPrepare, .prepare, .commitPrepared, .rollbackPrepared, .streamPrepare:
            // Two-phase (v3+) messages: never asked for; skip, never fail.
            return (.unsupported(tag: tag), nil)
        case nil:
            throw reader.error(.unknownMessageType, at: 0, "unknown message type")
        }
        guard reader.isAtEnd else {
            throw reader.error(.trailingBytes, at: reader.position, "\(reader.remaining) bytes after the message")
        }
        return (message, streamXid)
    }

    private static func decodeCommit(_ reader: inout PgOutputReader) throws(PgOutputDecodingError) -> PgOutputMessage.Commit {
        .init(
            flags: try reader.uint8(), commitLSN: LSN(try reader.uint64()), endLSN: LSN(try reader.uint64()),
            commitTimestamp: .init(rawValue: try reader.int64()))
    }

    private static func decodeRelation(_ reader: inout PgOutputReader) throws(PgOutputDecodingError) -> RelationMessage {
        let oid = try reader.uint32()
        let namespace = try reader.string()
        let name = try reader.string()
        let identity = RelationMessage.ReplicaIdentity(byte: try reader.uint8())
        let count = try reader.count16()
        // Each column needs at least 10 bytes: never reserve more than the input can hold.
        var columns: [RelationMessage.Column] = []
        columns.reserveCapacity(min(count, reader.remaining / 10))
        for _ in 0..<count {
            columns.append(
                .init(
                    flags: try reader.uint8(), name: try reader.string(), typeOID: try reader.uint32(),
                    typeModifier: try reader.int32()))
        }
        return RelationMessage(oid: oid, namespace: namespace, name: name, replicaIdentity: identity, columns: columns)
    }

    private static func decodeUpdate(_ reader: inout PgOutputReader) throws(PgOutputDecodingError) -> PgOutputMessage.Update {
        let relationOID = try reader.uint32()
        var old: PgOutputMessage.OldTuple?
        var marker = try reader.uint8()
        switch marker {
        case UInt8(ascii: "K"):
            old = .key(try decodeTuple(&reader))
            marker = try reader.uint8()
        case UInt8(ascii: "O"):
            old = .full(try decodeTuple(&reader))
            marker = try reader.uint8()
        default:
            break
        }
        guard marker == UInt8(ascii: "N") else {
            throw reader.error(.unexpectedByte, at: reader.position - 1, "expected 'K', 'O' or 'N', got \(marker)")
        }
        return .init(relationOID: relationOID, oldTuple: old, newTuple: try decodeTuple(&reader))
    }

    private static func decodeTruncate(_ reader: inout PgOutputReader) throws(PgOutputDecodingError) -> PgOutputMessage.Truncate {
        let count = try reader.length()
        let options = try reader.uint8()
        guard count <= reader.remaining / 4 else {
            throw reader.error(
                .truncated, at: reader.position, "\(count) relation ids announced, room for \(reader.remaining / 4)")
        }
        var oids: [UInt32] = []
        oids.reserveCapacity(count)
        for _ in 0..<count { oids.append(try reader.uint32()) }
        return .init(options: options, relationOIDs: oids)
    }

    private static func decodeTuple(_ reader: inout PgOutputReader) throws(PgOutputDecodingError) -> TupleData {
        let count = try reader.count16()
        var columns: [TupleValue] = []
        columns.reserveCapacity(min(count, reader.remaining))
        for _ in 0..<count {
            let kind = try reader.uint8()
            switch kind {
            case UInt8(ascii: "n"): columns.append(.null)
            case UInt8(ascii: "u"): columns.append(.unchangedToast)
            case UInt8(ascii: "t"): columns.append(.text(try reader.bytes(try reader.length())))
            case UInt8(ascii: "b"): columns.append(.binary(try reader.bytes(try reader.length())))
            default:
                throw reader.error(.unexpectedByte, at: reader.position - 1, "unknown tuple value kind \(kind)")
            }
        }
        return TupleData(columns: columns)
    }
}
