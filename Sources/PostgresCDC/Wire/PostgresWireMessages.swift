import NIOCore

/// One backend message: its type byte and its body (the bytes after the
/// Int32 length). The connection interprets bodies by type; the channel
/// handler only frames.
///
/// Framing (PostgreSQL "Message Formats"): Byte1 type, Int32 length counting
/// itself but not the type byte, then length - 4 body bytes. Before the startup
/// packet, the reply to SSLRequest is a single unframed byte ('S' or 'N').
struct BackendMessage: Sendable {
    var type: UInt8
    var body: ByteBuffer

    /// The reply to SSLRequest, reported with the pseudo type 0.
    static let sslResponseType: UInt8 = 0

    /// The message's id, nil for a type this client does not know.
    var id: BackendMessageID? { BackendMessageID(rawValue: type) }
}

/// Frames backend messages. Refuses absurd lengths instead of buffering them.
struct BackendMessageDecoder: ByteToMessageDecoder {
    typealias InboundOut = BackendMessage

    /// Postgres never sends a message bigger than 1 GB (MaxAllocSize).
    static let maximumMessageLength = 1 << 30

    /// True until the single-byte SSLRequest answer has been read.
    var expectsSSLResponse: Bool

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if expectsSSLResponse {
            guard let byte = buffer.readInteger(as: UInt8.self) else { return .needMoreData }
            expectsSSLResponse = false
            context.fireChannelRead(
                Self.wrapInboundOut(BackendMessage(type: BackendMessage.sslResponseType, body: ByteBuffer(bytes: [byte]))))
            return .continue
        }
        guard let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)
        else { return .needMoreData }
        guard length >= 4, Int(length) <= Self.maximumMessageLength else {
            throw PostgresReplicationError(
                .protocolViolation, "backend message '\(Character(Unicode.Scalar(type)))' has invalid length \(length)")
        }
        guard buffer.readableBytes >= 1 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 5)
        guard let body = buffer.readSlice(length: Int(length) - 4) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(BackendMessage(type: type, body: body)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// The frontend messages this client sends.
enum FrontendMessage: Sendable {
    case sslRequest
    case startup(parameters: [(String, String)])
    case password(String)
    case saslInitialResponse(mechanism: String, data: [UInt8])
    case saslResponse([UInt8])
    case query(String)
    /// CopyData carrying a standby status update or other replication message.
    case copyData([UInt8])
    case copyDone
    case copyFail(String)
    case terminate
}

/// Encodes frontend messages (Byte1 type, Int32 length, body).
struct FrontendMessageEncoder: MessageToByteEncoder {
    typealias OutboundIn = FrontendMessage

    func encode(data: FrontendMessage, out: inout ByteBuffer) throws {
        switch data {
        case .sslRequest:
            out.writeInteger(Int32(8))
            out.writeInteger(Int32(80_877_103))
        case .startup(let parameters):
            // No type byte: Int32 length, Int32 protocol 3.0, name/value C strings, final NUL.
            let start = out.writerIndex
            out.writeInteger(Int32(0))
            out.writeInteger(Int32(196_608))
            for (name, value) in parameters {
                out.writeNullTerminatedString(name)
                out.writeNullTerminatedString(value)
            }
            out.writeInteger(UInt8(0))
            out.setInteger(Int32(out.writerIndex - start), at: start)
        case .password(let password):
            Self.frame(.password, into: &out) { $0.writeNullTerminatedString(password) }
        case .saslInitialResponse(let mechanism, let data):
            Self.frame(.password, into: &out) {
                $0.writeNullTerminatedString(mechanism)
                $0.writeInteger(Int32(data.count))
                $0.writeBytes(data)
            }
        case .saslResponse(let data):
            Self.frame(.password, into: &out) { $0.writeBytes(data) }
        case .query(let sql):
            Self.frame(.query, into: &out) { $0.writeNullTerminatedString(sql) }
        case .copyData(let bytes):
            Self.frame(.copyData, into: &out) { $0.writeBytes(bytes) }
        case .copyDone:
            Self.frame(.copyDone, into: &out) { _ in }
        case .copyFail(let reason):
            Self.frame(.copyFail, into: &out) { $0.writeNullTerminatedString(reason) }
        case .terminate:
            Self.frame(.terminate, into: &out) { _ in }
        }
    }

    private static func frame(_ id: FrontendMessageID, into out: inout ByteBuffer, body: (inout ByteBuffer) -> Void) {
        out.writeInteger(id.rawValue)
        let lengthIndex = out.writerIndex
        out.writeInteger(Int32(0))
        body(&out)
        out.setInteger(Int32(out.writerIndex - lengthIndex), at: lengthIndex)
    }
}

/// The fields of an ErrorResponse or NoticeResponse, by field type.
struct ErrorFields: Sendable {
    var values: [UInt8: String] = [:]

    subscript(_ id: ErrorFieldID) -> String? { values[id.rawValue] }
}

extension ByteBuffer {
    /// Reads the fields of an ErrorResponse or NoticeResponse body.
    mutating func readErrorFields() -> ErrorFields {
        var fields = ErrorFields()
        while let type = readInteger(as: UInt8.self), type != 0 {
            guard let value = readNullTerminatedString() else { break }
            fields.values[type] = value
        }
        return fields
    }
}
