/// Quoting for the few SQL statements the ingester builds (simple-query
/// protocol: no bind parameters).
enum SQL {
    /// `'text'`, quotes doubled (`standard_conforming_strings` is on by
    /// default since Postgres 9.1; an `E''` literal would not depend on it,
    /// but backslashes are doubled too so both readings agree).
    static func literal(_ text: String) -> String {
        if text.contains("\\") {
            return "E'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
        }
        return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// `'a', 'b'`: literals for an `IN (...)` list.
    static func literals(_ texts: [String]) -> String {
        texts.map(literal).joined(separator: ", ")
    }

    /// `"name"`, quotes doubled.
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `schema.table` as `"schema"."table"`; a name without a dot stays unqualified.
    static func qualifiedIdentifier(_ name: String) -> String {
        guard let dot = name.firstIndex(of: ".") else { return identifier(name) }
        return identifier(String(name[..<dot])) + "." + identifier(String(name[name.index(after: dot)...]))
    }
}
