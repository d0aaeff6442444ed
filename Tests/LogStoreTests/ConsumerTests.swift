import Foundation
import SystemPackage
import Testing

@testable import LogStore

@Suite struct ConsumerTests {
    private func appendValues(_ log: Log, _ range: Range<Int>) throws {
        for number in range { try log.append(Record("v\(number)")) }
    }

    private func values(_ records: [StoredRecord]) -> [String] {
        records.map { String(decoding: $0.value ?? [], as: UTF8.self) }
    }

    @Test func resumesFromTheCommittedOffsetAfterReopen() throws {
        let directory = try TemporaryDirectory()
        var log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<10)
        var consumer: Consumer? = try Consumer(log: log, group: "billing")
        #expect(consumer?.committedOffset == nil)
        #expect(values(try #require(consumer).poll(maxRecords: 4)) == ["v0", "v1", "v2", "v3"])
        try #require(consumer).commit()
        #expect(consumer?.committedOffset == 4)
        // Handed out but not committed: seen again after a restart (at least once).
        #expect(values(try #require(consumer).poll(maxRecords: 2)) == ["v4", "v5"])
        consumer = nil
        try log.close()

        log = try Log.open(directory: directory.log())
        let resumed = try Consumer(log: log, group: "billing")
        #expect(resumed.position == 4)
        #expect(values(try resumed.poll(maxRecords: 100)) == ["v4", "v5", "v6", "v7", "v8", "v9"])
        #expect(try resumed.poll(maxRecords: 100).isEmpty)
        try log.close()
    }

    @Test func groupsAreIndependentAndExclusive() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<5)
        let first = try Consumer(log: log, group: "a")
        let second = try Consumer(log: log, group: "b")
        _ = try first.poll(maxRecords: 3)
        try first.commit()
        #expect(second.position == 0)
        let error = #expect(throws: LogStoreError.self) { try Consumer(log: log, group: "a") }
        #expect(error?.code == .unavailable)
        let groups = try log.groups()
        #expect(groups.map(\.group) == ["a", "b"])
        #expect(groups.first?.committedOffset == 3)
        #expect(groups.first?.lag == 2)
        #expect(groups.last?.committedOffset == nil)
        _ = second
        try log.close()
    }

    @Test(arguments: [OffsetResetPolicy.earliest, .latest, .fail])
    func resetPolicyAppliesWhenRetentionRemovedTheCommittedOffset(policy: OffsetResetPolicy) throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 512, syncPolicy: .never))
        try appendValues(log, 0..<100)
        try log.resetGroup("slow", to: 2)
        let removed = try log.deleteSegments(below: 50)
        #expect(removed > 0)
        let lowest = log.lowestOffset
        #expect(lowest > 2)
        switch policy {
        case .fail:
            let error = #expect(throws: LogStoreError.self) { try Consumer(log: log, group: "slow", resetPolicy: policy) }
            #expect(error?.code == .offsetOutOfRange)
            #expect(error?.message.contains("below the oldest retained offset \(lowest)") == true)
        case .earliest:
            let consumer = try Consumer(log: log, group: "slow", resetPolicy: policy)
            #expect(consumer.position == lowest)
            #expect(try consumer.poll(maxRecords: 1).first?.offset == lowest)
        case .latest:
            let consumer = try Consumer(log: log, group: "slow", resetPolicy: policy)
            #expect(consumer.position == 100)
            #expect(try consumer.poll(maxRecords: 1).isEmpty)
        }
        try log.close()
    }

    @Test func retentionPassingALiveConsumerResetsItInsteadOfFailingReads() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(maxSegmentBytes: 512, syncPolicy: .never))
        try appendValues(log, 0..<100)
        let consumer = try Consumer(log: log, group: "g")
        _ = try consumer.poll(maxRecords: 1)
        try log.deleteSegments(below: 60)
        let next = try consumer.poll(maxRecords: 1)
        #expect(next.first?.offset == log.lowestOffset)
        try log.close()
    }

    @Test func aTornCommitSlotFallsBackToThePreviousCommit() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<10)
        var consumer: Consumer? = try Consumer(log: log, group: "g")
        try #require(consumer).commit(3)  // slot 1
        try #require(consumer).commit(7)  // slot 0
        consumer = nil
        let path = Consumer.groupsDirectory(of: directory.log()).appending("g.offset")
        var bytes = try readBytes(path)
        bytes[12] ^= 0xFF  // damage the newest slot's offset: its CRC no longer matches
        try writeBytes(bytes, to: path)
        let reopened = try Consumer(log: log, group: "g")
        #expect(reopened.committedOffset == 3)
        try log.close()
    }

    @Test func commitMetadataRoundTripsAndOlderSlotsStillRead() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<10)
        #expect(try log.committedOffset(group: "kafka") == nil)
        let metadata = Array("{\"client\":\"é\"}".utf8)
        try log.commitOffset(4, metadata: metadata, group: "kafka")
        #expect(try log.committedOffset(group: "kafka") == CommittedOffset(offset: 4, metadata: metadata))
        let longest = [UInt8](repeating: 0x41, count: Log.maxCommitMetadataBytes)
        try log.commitOffset(6, metadata: longest, group: "kafka")
        #expect(try log.committedOffset(group: "kafka") == CommittedOffset(offset: 6, metadata: longest))
        let tooLong = #expect(throws: LogStoreError.self) {
            try log.commitOffset(7, metadata: longest + [0x41], group: "kafka")
        }
        #expect(tooLong?.code == .invalidArgument)
        #expect(try log.committedOffset(group: "kafka")?.offset == 6, "a refused commit changes nothing")

        // A Consumer of the group (logd read --group) resumes at the Kafka commit; its commits carry no metadata.
        let consumer = try Consumer(log: log, group: "kafka")
        #expect(consumer.position == 6)
        let locked = #expect(throws: LogStoreError.self) { try log.commitOffset(8, group: "kafka") }
        #expect(locked?.code == .unavailable, "a live Consumer holds the group")
        try consumer.commit(8)
        #expect(try log.committedOffset(group: "kafka") == CommittedOffset(offset: 8))

        // Past the end, as Kafka allows (librdkafka's test 0099 commits 42 on a short topic); below 0 never.
        try log.commitOffset(42, metadata: metadata, group: "ahead")
        #expect(try log.committedOffset(group: "ahead") == CommittedOffset(offset: 42, metadata: metadata))
        do {
            let ahead = try Consumer(log: log, group: "ahead")
            #expect((0...10).contains(ahead.position), "a consumer starts where its reset policy says: \(ahead.position)")
        }
        #expect(throws: LogStoreError.self) { try log.commitOffset(-1, group: "ahead") }

        // A slot whose metadata part is torn (its CRC fails) is skipped: the previous commit stands.
        try log.commitOffset(5, metadata: metadata, group: "other")
        try log.commitOffset(9, metadata: metadata, group: "other")  // slot 0
        let path = Consumer.groupsDirectory(of: directory.log()).appending("other.offset")
        var bytes = try readBytes(path)
        bytes[GroupOffsetStore.headerBytes] ^= 0xFF
        try writeBytes(bytes, to: path)
        #expect(try log.committedOffset(group: "other") == CommittedOffset(offset: 5, metadata: metadata))

        // Files of logd before commit metadata: 24-byte slots, zeros after them.
        var legacy = [UInt8](repeating: 0, count: GroupOffsetStore.slotSize + GroupOffsetStore.offsetBytes)
        legacy.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: GroupOffsetStore.magic.littleEndian, as: UInt32.self)
            raw.storeBytes(of: UInt64(1).littleEndian, toByteOffset: 4, as: UInt64.self)
            raw.storeBytes(of: Int64(3).littleEndian, toByteOffset: 12, as: Int64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0..<20]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 20, as: UInt32.self)
        }
        try writeBytes(legacy, to: Consumer.groupsDirectory(of: directory.log()).appending("legacy.offset"))
        #expect(try log.committedOffset(group: "legacy") == CommittedOffset(offset: 3))
        _ = consumer
        try log.close()
        #expect(try Log.verify(directory: directory.log()).isClean)
    }

    @Test func backgroundCommitsAreDurableOnceWaitedForAndOnReopen() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<50)
        var consumer: Consumer? = try Consumer(log: log, group: "bg")
        for _ in 0..<10 {
            _ = try #require(consumer).poll(maxRecords: 5)
            try #require(consumer).commitInBackground()
        }
        #expect(consumer?.committedOffset == 50)
        try #require(consumer).waitUntilCommitted()
        consumer = nil  // stops its background syncer
        let reopened = try Consumer(log: log, group: "bg")
        #expect(reopened.committedOffset == 50)
        #expect(reopened.position == 50)
        // A durable commit after background ones still alternates slots correctly.
        try reopened.commit(20)
        #expect(reopened.committedOffset == 20)
        reopened.seek(to: 30)
        try reopened.commitInBackground()
        try reopened.waitUntilCommitted()
        #expect(reopened.committedOffset == 30)
        #expect(try log.groups().first?.committedOffset == 30)
        try log.close()
    }

    @Test func rejectsBadGroupNamesAndOffsets() throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        try appendValues(log, 0..<3)
        for name in ["", "../x", "a/b", ".hidden"] {
            let error = #expect(throws: LogStoreError.self) { try Consumer(log: log, group: name) }
            #expect(error?.code == .invalidArgument)
        }
        let consumer = try Consumer(log: log, group: "g")
        #expect(throws: LogStoreError.self) { try consumer.commit(4) }
        #expect(throws: LogStoreError.self) { try consumer.commit(-1) }
        try log.close()
    }

    @Test func followingConsumerSeesLaterAppends() async throws {
        let directory = try TemporaryDirectory()
        let log = try Log.open(directory: directory.log(), options: LogOptions(syncPolicy: .never))
        let consumer = try Consumer(log: log, group: "tail", resetPolicy: .latest)
        let reader = Task {
            var seen: [String] = []
            for try await record in consumer.records() {
                seen.append(String(decoding: record.value ?? [], as: UTF8.self))
                if seen.count == 3 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(20))
        try appendValues(log, 0..<3)
        #expect(try await reader.value == ["v0", "v1", "v2"])
        try log.close()
    }
}
