import PostgresCDC

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to a file descriptor (stdout), flushed when full or asked.
/// `print` goes through a lock and a String per call; reading millions of
/// records needs neither.
final class OutputBuffer {
    private var bytes: [UInt8] = []
    private let descriptor: Int32
    private let limit: Int

    init(descriptor: Int32 = STDOUT_FILENO, limit: Int = 64 << 10) {
        self.descriptor = descriptor
        self.limit = limit
        bytes.reserveCapacity(limit + 4096)
    }

    func write(_ string: String) {
        var string = string
        string.withUTF8 { bytes.append(contentsOf: $0) }
        flushIfFull()
    }

    func write(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
        flushIfFull()
    }

    func write(byte: UInt8) {
        bytes.append(byte)
    }

    /// Lets `body` append to the buffer: one access to it however many appends.
    func append(_ body: (inout [UInt8]) -> Void) {
        body(&bytes)
        flushIfFull()
    }

    private func flushIfFull() {
        if bytes.count >= limit { flush() }
    }

    /// Writes everything out; exits quietly when the reader went away (EPIPE).
    func flush() {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.write(descriptor, base + done, buffer.count - done)
            }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE { exit(0) }
                FileHandleError.report("cannot write output: \(String(cString: strerror(errno)))")
                exit(1)
            }
            done += written
        }
        bytes.removeAll(keepingCapacity: true)
    }

    func writeJSONString(_ string: String) {
        JSONString.append(string, to: &bytes, style: .commandOutput)
    }

}

/// Appends to an output line's bytes without making Strings.
enum OutputBytes {
    static func append(_ literal: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// `number` in decimal, written from its last digit into a small buffer (division by the constant 10).
    static func append(decimal number: Int64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var magnitude = number.magnitude
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if number < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }
}

enum FileHandleError {
    /// One line on stderr, prefixed like ArgumentParser's errors.
    static func report(_ message: String) {
        var line = "Error: " + message + "\n"
        line.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// One line of progress on stderr, as it is.
    static func note(_ message: String) {
        var line = message + "\n"
        line.withUTF8 { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
