/// A change that cannot become a record: the message and the cached schema
/// disagree. The ingester should stop rather than write a wrong record.
public struct ChangeEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// A tuple has a different number of columns than its Relation.
        case columnCountMismatch
        /// A change or truncate names a relation OID with no Relation message.
        case unknownRelation
    }

    public var code: Code
    public var relationOID: UInt32
    public var message: String

    public init(_ code: Code, relationOID: UInt32, _ message: String) {
        self.code = code
        self.relationOID = relationOID
        self.message = message
    }

    public var description: String { "\(message) (relation \(relationOID))" }
}
