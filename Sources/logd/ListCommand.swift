import ArgumentParser
import Foundation
import LogStore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the logs in the data directory.")

    @OptionGroup var data: DataDirectoryOptions

    func run() throws {
        let root = data.path.string
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CLIError("no data directory at \(root)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        for name in names where !name.hasPrefix(".") {
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: root + "/" + name)) ?? []
            if contents.contains(where: { $0.hasSuffix(".store") }) { print(name) }
        }
    }
}
