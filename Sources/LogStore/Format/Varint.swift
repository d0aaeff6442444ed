/// Kafka's variable-length integers: zig-zag encoded, 7 bits a byte, low
/// groups first (protobuf's `sint32`/`sint64`).
enum Varint {
    /// The encoded size of `value`.
    @inline(__always)
    static func size(_ value: Int64) -> Int {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        var count = 1
        while zigzag >= 0x80 {
            zigzag >>= 7
            count += 1
        }
        return count
    }

    /// Writes `value` at `pointer + index`, advancing `index`.
    @inline(__always)
    static func write(_ value: Int64, to pointer: UnsafeMutableRawPointer, at index: inout Int) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            pointer.storeBytes(of: UInt8(truncatingIfNeeded: zigzag) | 0x80, toByteOffset: index, as: UInt8.self)
            zigzag >>= 7
            index += 1
        }
        pointer.storeBytes(of: UInt8(zigzag), toByteOffset: index, as: UInt8.self)
        index += 1
    }

    /// Reads a varint from `bytes` at `index`, advancing it; nil when the bytes
    /// end first or the encoding is longer than 10 bytes.
    @inline(__always)
    static func read(_ bytes: UnsafeRawBufferPointer, at index: inout Int) -> Int64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
            }
            shift += 7
            if shift >= 70 { return nil }
        }
        return nil
    }
}

/// Big-endian fixed-width fields, as the Kafka record batch stores them.
extension UnsafeMutableRawPointer {
    @inline(__always)
    func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func loadBigEndian<T: FixedWidthInteger>(at offset: Int, as type: T.Type) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
