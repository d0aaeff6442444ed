/// One number a workload measured, with its unit.
public struct Figure: Sendable {
    public var name: String
    public var value: Double
    /// "MB/s" (10^6 bytes a second), "GB/s" (10^9), "records/s", "us", "s", "MiB", "x" (a ratio).
    public var unit: String

    public init(_ name: String, _ value: Double, _ unit: String) {
        self.name = name
        self.value = value
        self.unit = unit
    }
}

/// What a workload aims for: its main figure, or its ratio to the reference,
/// at least or at most some value.
public struct Target: Sendable {
    public enum Comparison: String, Sendable {
        case atLeast = ">="
        case atMost = "<="
    }

    public enum Subject: String, Sendable {
        /// The workload's main figure.
        case figure
        /// The figure divided by the reference.
        case ratio
    }

    public var subject: Subject
    public var comparison: Comparison
    public var value: Double
    public var unit: String

    public init(_ subject: Subject, _ comparison: Comparison, _ value: Double, _ unit: String) {
        self.subject = subject
        self.comparison = comparison
        self.value = value
        self.unit = unit
    }

    func isMet(by measured: Double) -> Bool {
        switch comparison {
        case .atLeast: return measured >= value
        case .atMost: return measured <= value
        }
    }
}

/// The line a workload adds to the report: its main figure, the reference
/// measured in the same run, their ratio and the target.
public struct BenchReport: Sendable {
    public var workload: String
    public var figure: Figure
    /// Measured in the same run, so that machine drift cancels out of `ratio`.
    public var reference: Figure?
    /// `figure.value / reference.value` (both in the same unit), when there is a reference.
    public var ratio: Double?
    public var target: Target
    /// Further figures (latency percentiles, byte counts, times).
    public var details: [Figure]
    /// The few of `details` that the plain output shows on the workload's
    /// own line too (the compaction's two passes), not only with `--verbose`.
    public var summary: [Figure]
    /// How the workload was run (record size, batch, sync policy, ...).
    public var setup: String

    public init(
        workload: String, figure: Figure, reference: Figure? = nil, target: Target, details: [Figure] = [],
        summary: [Figure] = [], setup: String
    ) {
        self.workload = workload
        self.figure = figure
        self.reference = reference
        if let reference, reference.value > 0 { ratio = figure.value / reference.value } else { ratio = nil }
        self.target = target
        self.details = details
        self.summary = summary
        self.setup = setup
    }

    /// The value the target is checked against.
    public var targetedValue: Double? {
        switch target.subject {
        case .figure: return figure.value
        case .ratio: return ratio
        }
    }

    public var passed: Bool {
        guard let targetedValue else { return false }
        return target.isMet(by: targetedValue)
    }
}

/// Number formatting without Foundation.
public enum NumberText {
    /// `value` with exactly `decimals` digits after the point.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale: Int64 = 1
        for _ in 0..<max(decimals, 0) { scale *= 10 }
        guard abs(value) * Double(scale) < 9e18 else { return String(value) }
        let scaled = Int64((abs(value) * Double(scale)).rounded())
        let sign = value < 0 && scaled != 0 ? "-" : ""
        let integer = grouped(scaled / scale)
        guard decimals > 0 else { return sign + integer }
        var fraction = String(scaled % scale)
        while fraction.count < decimals { fraction = "0" + fraction }
        return sign + integer + "." + fraction
    }

    /// `value` with about three significant digits (at least one decimal below 100).
    public static func short(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 100 { return fixed(value, decimals: 0) }
        if magnitude >= 10 { return fixed(value, decimals: 1) }
        if magnitude >= 1 { return fixed(value, decimals: 2) }
        return fixed(value, decimals: 3)
    }

    /// An integer with thousands separators: 3,012,345.
    public static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return value < 0 ? "-" + result : result
    }

    /// A byte count in binary units: 1 GiB, 256 MiB, 100 B.
    public static func bytes(_ value: Int) -> String {
        let units = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, unit) in units where value >= size {
            return (value % size == 0 ? String(value / size) : short(Double(value) / Double(size))) + " " + unit
        }
        return "\(value) B"
    }
}
