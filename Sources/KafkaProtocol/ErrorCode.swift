/// Kafka's error codes, as far as this server answers them
/// (`org.apache.kafka.common.protocol.Errors`).
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let none = ErrorCode(rawValue: 0)
    public static let offsetOutOfRange = ErrorCode(rawValue: 1)
    public static let corruptMessage = ErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = ErrorCode(rawValue: 3)
    public static let invalidFetchSize = ErrorCode(rawValue: 4)
    public static let notLeaderOrFollower = ErrorCode(rawValue: 6)
    public static let requestTimedOut = ErrorCode(rawValue: 7)
    public static let messageTooLarge = ErrorCode(rawValue: 10)
    public static let offsetMetadataTooLarge = ErrorCode(rawValue: 12)
    public static let coordinatorLoadInProgress = ErrorCode(rawValue: 14)
    public static let coordinatorNotAvailable = ErrorCode(rawValue: 15)
    public static let notCoordinator = ErrorCode(rawValue: 16)
    public static let invalidTopic = ErrorCode(rawValue: 17)
    public static let recordListTooLarge = ErrorCode(rawValue: 18)
    public static let notEnoughReplicas = ErrorCode(rawValue: 19)
    public static let illegalGeneration = ErrorCode(rawValue: 22)
    public static let inconsistentGroupProtocol = ErrorCode(rawValue: 23)
    public static let invalidGroupID = ErrorCode(rawValue: 24)
    public static let unknownMemberID = ErrorCode(rawValue: 25)
    public static let invalidSessionTimeout = ErrorCode(rawValue: 26)
    public static let rebalanceInProgress = ErrorCode(rawValue: 27)
    public static let invalidCommitOffsetSize = ErrorCode(rawValue: 28)
    public static let unsupportedVersion = ErrorCode(rawValue: 35)
    public static let invalidRequest = ErrorCode(rawValue: 42)
    public static let unsupportedForMessageFormat = ErrorCode(rawValue: 43)
    public static let outOfOrderSequenceNumber = ErrorCode(rawValue: 45)
    public static let duplicateSequenceNumber = ErrorCode(rawValue: 46)
    public static let invalidProducerEpoch = ErrorCode(rawValue: 47)
    public static let invalidTransactionTimeout = ErrorCode(rawValue: 50)
    public static let transactionalIDAuthorizationFailed = ErrorCode(rawValue: 53)
    public static let kafkaStorageError = ErrorCode(rawValue: 56)
    public static let unknownProducerID = ErrorCode(rawValue: 59)
    public static let groupIDNotFound = ErrorCode(rawValue: 69)
    public static let unsupportedCompressionType = ErrorCode(rawValue: 76)
    public static let memberIDRequired = ErrorCode(rawValue: 79)
    public static let invalidRecord = ErrorCode(rawValue: 87)
    public static let unknownServerError = ErrorCode(rawValue: -1)

    public var description: String { "\(rawValue)" }
}
