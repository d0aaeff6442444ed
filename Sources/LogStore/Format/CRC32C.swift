import CCRC32C

/// CRC-32C (Castagnoli), as Kafka record batches v2 use it.
public enum CRC32C {
    /// The checksum of `bytes`, or of `bytes` appended to data whose checksum was `crc`.
    @inline(__always)
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        logd_crc32c_extend(crc, bytes.baseAddress, bytes.count)
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        let array = Array(bytes)
        return array.withUnsafeBytes { checksum($0) }
    }

    /// Whether the CPU's CRC-32C instruction is in use.
    public static var isHardwareAccelerated: Bool { logd_crc32c_is_hardware() != 0 }

    /// The implementation in use: "avx512-vpclmulqdq", "sse4.2", "armv8" or "table".
    static var implementation: String { String(cString: logd_crc32c_implementation()) }

    /// `checksum(_:extending:)` on the portable table path, for checking the fast paths against.
    static func portableChecksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        logd_crc32c_extend_portable(crc, bytes.baseAddress, bytes.count)
    }
}
