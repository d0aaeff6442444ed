import NIOCore

/// Splits the byte stream of a connection into Kafka frames (an int32 size,
/// then that many bytes) and passes each frame on without its size.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    let maxFrameBytes: Int

    struct FrameTooLarge: Error, CustomStringConvertible {
        var size: Int
        var limit: Int
        var description: String { "a request of \(size) bytes, over the limit of \(limit) (--max-request-bytes)" }
    }

    struct NegativeSize: Error, CustomStringConvertible {
        var size: Int32
        var description: String { "a frame size of \(size)" }
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let size = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: Int32.self) else { return .needMoreData }
        guard size >= 0 else { throw NegativeSize(size: size) }
        guard Int(size) <= maxFrameBytes else { throw FrameTooLarge(size: Int(size), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        guard let frame = buffer.readSlice(length: Int(size)) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
