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

    /// Appends `number` in decimal (no String made).
    func write(decimal number: Int64) {
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var divisor: UInt64 = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude / divisor))
            magnitude %= divisor
            divisor /= 10
        } while divisor > 0
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

    /// Appends `raw` as a JSON string literal (quotes included). Invalid UTF-8
    /// is replaced by U+FFFD (`JSONString`, command-output style).
    func writeJSONString(_ raw: UnsafeRawBufferPointer) {
        JSONString.append(raw, to: &bytes, style: .commandOutput)
    }

    func writeJSONString(_ string: String) {
        JSONString.append(string, to: &bytes, style: .commandOutput)
    }

    /// Appends `raw` as a JSON string literal and returns true if it is valid
    /// UTF-8; else appends nothing and returns false.
    func writeJSONStringIfValid(_ raw: UnsafeRawBufferPointer) -> Bool {
        defer { flushIfFull() }
        return JSONString.appendIfValid(raw, to: &bytes, style: .commandOutput)
    }

    /// Appends the base64 of `raw` as a JSON string literal.
    func writeBase64String(_ raw: UnsafeRawBufferPointer) {
        JSONString.appendBase64(raw, to: &bytes)
        flushIfFull()
    }

    /// Appends `raw`, a JSON document, minified, and returns true; false (nothing appended) when it is none.
    func writeMinifiedJSON(_ raw: UnsafeRawBufferPointer) -> Bool {
        defer { flushIfFull() }
        return JSONText.appendMinified(raw, to: &bytes)
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
