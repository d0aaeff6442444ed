import NIOCore
import Synchronization

/// A response frame in parts, written one after the other, and the store
/// files a fetch's regions are sent from (sendfile).
struct ResponseFrame: Sendable {
    var parts: [IOData]
    /// Kept open until the last part is written, or the frame dropped.
    var files: StoreFiles?

    init(parts: [IOData], files: StoreFiles? = nil) {
        self.parts = parts
        self.files = files
    }
}

/// Descriptors of store files (each its own, from `Log.locateRecordBatches`)
/// behind a fetch's file regions: closed when the last reference goes, so
/// that a response dropped unwritten (a long poll that looks again, a
/// connection closed) leaks none.
final class StoreFiles: Sendable {
    private let handles = Mutex<[NIOFileHandle]>([])

    var isEmpty: Bool { handles.withLock { $0.isEmpty } }

    /// A region of `byteCount` bytes from `position` of the file `descriptor`
    /// (which the files now own and close).
    func region(of descriptor: CInt, position: Int64, byteCount: Int) -> FileRegion {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: descriptor)
        handles.withLock { $0.append(handle) }
        return FileRegion(fileHandle: handle, readerIndex: Int(position), endIndex: Int(position) + byteCount)
    }

    deinit {
        for handle in handles.withLock({ $0 }) { try? handle.close() }
    }
}

/// Writes a response's parts to the socket (byte buffers, and file regions
/// with sendfile) and holds its store files until the last part is written
/// or failed.
final class ResponseWriter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ResponseFrame
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard let last = frame.parts.last else {
            promise?.succeed()
            return
        }
        for part in frame.parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
        guard let files = frame.files else {
            context.write(wrapOutboundOut(last), promise: promise)
            return
        }
        // Writes complete in order: once the last part is written or failed, no region is in use.
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { _ in withExtendedLifetime(files) {} }
        if let promise { written.futureResult.cascade(to: promise) }
        context.write(wrapOutboundOut(last), promise: written)
    }
}
