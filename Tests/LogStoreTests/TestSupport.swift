import Foundation
import SystemPackage

/// A fresh temporary directory for one test, removed afterwards.
struct TemporaryDirectory: ~Copyable {
    let path: FilePath

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("logstore-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = FilePath(base.path)
    }

    deinit { try? FileManager.default.removeItem(atPath: path.string) }

    func log(_ name: String = "log") -> FilePath { path.appending(name) }
}
