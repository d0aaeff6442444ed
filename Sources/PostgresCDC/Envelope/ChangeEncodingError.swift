/// A change that cannot become a record: the message and the cached schema
/// disagree. The ingester should stop rather than write a wrong record.
public struct ChangeEncodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, to branch on. A struct rather than an enum so that
    /// codes can be added without breaking a user's exhaustive `switch`
    /// (as swift-nio's `FileSystemError.Code`); match with `case .name:` and
    /// keep a `default:`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as printed, e.g. `columnCountMismatch`.
        let name: String

        private init(_ name: String) {
            self.name = name
        }

        public var description: String { name }

        /// A tuple has a different number of columns than its Relation.
        public static let columnCountMismatch = Code("columnCountMismatch")
        /// A change or truncate names a relation OID with no Relation message.
        public static let unknownRelation = Code("unknownRelation")
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
