import Foundation
import SystemPackage
import Testing

@testable import PostgresCDC

/// The `source` metadata file of an ingested log (docs/CDC.md, "The log's source").
@Suite struct IngestSourceTests {
    @Test("publication= keeps the list comma-separated; a file of one publication reads as a list of one")
    func publicationsRoundTrip() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logd-source-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = FilePath(directory.path)
        let file = directory.appendingPathComponent(IngestSource.fileName)

        try
            "type=postgres\nsystem_id=7\nhost=db\nport=5432\ndatabase=shop\nuser=repl\nslot=s\npublication=orders\nsnapshot=none\n"
            .write(to: file, atomically: true, encoding: .utf8)
        var source = try #require(try IngestSource.load(logDirectory: path))
        #expect(source.publications == ["orders"])

        source.publications = ["orders", "parts"]
        try source.save(logDirectory: path)
        #expect(try String(contentsOf: file, encoding: .utf8).contains("\npublication=orders,parts\n"))
        #expect(try IngestSource.load(logDirectory: path) == source)
    }
}
