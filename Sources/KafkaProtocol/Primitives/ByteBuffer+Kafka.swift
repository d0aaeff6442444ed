import NIOCore

/// Writers of Kafka's primitive types (big-endian), for responses.
extension ByteBuffer {
    mutating func writeKafka(_ value: Int8) { writeInteger(value) }
    mutating func writeKafka(_ value: Int16) { writeInteger(value, endianness: .big) }
    mutating func writeKafka(_ value: Int32) { writeInteger(value, endianness: .big) }
    mutating func writeKafka(_ value: Int64) { writeInteger(value, endianness: .big) }
    mutating func writeKafka(_ value: Bool) { writeInteger(value ? 1 : 0, as: Int8.self) }

    /// STRING or NULLABLE_STRING (nil is length -1).
    mutating func writeKafka(_ value: String?) {
        guard let value else {
            writeKafka(Int16(-1))
            return
        }
        writeKafka(Int16(truncatingIfNeeded: value.utf8.count))
        writeString(value)
    }

    /// BYTES or NULLABLE_BYTES (nil is length -1).
    mutating func writeKafka(_ value: ByteBuffer?) {
        guard var value else {
            writeKafka(Int32(-1))
            return
        }
        writeKafka(Int32(truncatingIfNeeded: value.readableBytes))
        writeBuffer(&value)
    }

    /// BYTES from an array (group assignments and member metadata).
    mutating func writeKafka(bytes value: [UInt8]?) {
        guard let value else {
            writeKafka(Int32(-1))
            return
        }
        writeKafka(Int32(truncatingIfNeeded: value.count))
        writeBytes(value)
    }

    /// ARRAY: an int32 count, then each element (nil is count -1).
    mutating func writeKafkaArray<C: Collection>(_ elements: C?, _ element: (inout ByteBuffer, C.Element) -> Void) {
        guard let elements else {
            writeKafka(Int32(-1))
            return
        }
        writeKafka(Int32(truncatingIfNeeded: elements.count))
        for value in elements { element(&self, value) }
    }
}
