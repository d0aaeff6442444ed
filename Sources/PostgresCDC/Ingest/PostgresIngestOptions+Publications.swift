extension PostgresIngestOptions {
    /// The longest name Postgres keeps: `NAMEDATALEN` (64) less the NUL.
    public static let maximumNameBytes = 63

    /// The publication names of a comma-separated list (`orders,parts`),
    /// spaces around each name ignored, checked by `validatePublications`.
    /// - Throws: `IngestError.invalidPublication` naming the bad name.
    public static func publications(parsing list: String) throws(IngestError) -> [String] {
        let names = list.split(separator: ",", omittingEmptySubsequences: false).map { name in
            String(name.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        try validate(names, list: list)
        return names
    }

    /// Checks `publications` before anything is made of them: START_REPLICATION
    /// passes them to pgoutput quoted (`publication_names '"a","b"'`), and
    /// `create` makes the missing ones under these names, so a name Postgres
    /// would change or could not tell apart is refused rather than left to
    /// name another publication.
    /// - Throws: `IngestError.invalidPublication` for no name, an empty name,
    ///   a name given twice, with upper-case letters (Postgres folds unquoted
    ///   names to lower case: `CREATE PUBLICATION Orders` makes `orders`),
    ///   longer than 63 bytes (Postgres cuts it), or with a comma or line
    ///   break (the log's `source` file keeps the list comma-separated).
    public func validatePublications() throws(IngestError) {
        try Self.validate(publications, list: publications.joined(separator: ","))
    }

    /// `name` with A-Z in lower case, as Postgres folds an unquoted name in a
    /// UTF-8 database (`downcase_identifier`).
    private static func foldedASCII(_ name: String) -> String {
        String(decoding: name.utf8.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }, as: UTF8.self)
    }

    private static func validate(_ names: [String], list: String) throws(IngestError) {
        guard !names.isEmpty else { throw IngestError(.invalidPublication, "no publication given") }
        var seen: Set<String> = []
        for name in names {
            guard !name.isEmpty else {
                throw IngestError(.invalidPublication, "the publication list '\(list)' has an empty name")
            }
            guard !name.contains(where: { $0 == "," || $0.isNewline }) else {
                throw IngestError(
                    .invalidPublication,
                    "publication name '\(name)' contains a comma or a line break: names are separated by commas")
            }
            guard !name.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
                throw IngestError(
                    .invalidPublication,
                    "publication name '\(name)' has upper-case letters: Postgres folds unquoted names to lower case "
                        + "(CREATE PUBLICATION \(name) makes \(foldedASCII(name))); give the name in lower case")
            }
            guard name.utf8.count <= maximumNameBytes else {
                throw IngestError(
                    .invalidPublication,
                    "publication name '\(name)' is \(name.utf8.count) bytes long: Postgres names are at most "
                        + "\(maximumNameBytes) bytes (NAMEDATALEN 64), it would cut it short")
            }
            guard seen.insert(name).inserted else {
                throw IngestError(.invalidPublication, "the publication list '\(list)' names publication \(name) twice")
            }
        }
    }
}
