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
    /// is replaced by U+FFFD.
    func writeJSONString(_ raw: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        let text = String(decoding: raw, as: UTF8.self)
        for unit in text.utf8 {
            switch unit {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(unit >> 4)], hex[Int(unit & 0xF)]])
            default: bytes.append(unit)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    func writeJSONString(_ string: String) {
        var string = string
        string.withUTF8 { writeJSONString(UnsafeRawBufferPointer($0)) }
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
