import LogStore

/// `gzip-append-cdc-json`: what gzip batches cost and save on change records.
public enum CompressionWorkloads {
    /// Change records shaped like `logd ingest postgres` output (an update of
    /// a row of a 14-column table, keyed by its primary key), varied by a
    /// seeded generator so that batches are not copies of each other.
    public static func cdcRecords(count: Int, keys: Int, seed: UInt64 = 42) -> [Record] {
        var random = SeededGenerator(seed: seed)
        let cities = ["Berlin", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima", "Oslo", "Pune", "Austin", "Sapporo"]
        let plans = ["free", "team", "business", "enterprise"]
        return (0..<count).map { number in
            let id = Int(random.next() % UInt64(keys))
            let lsn = 0x1_6B37_4D28 + number * 312
            let balance = Double(random.next() % 10_000_000) / 100
            let city = cities[Int(random.next() % UInt64(cities.count))]
            let plan = plans[Int(random.next() % UInt64(plans.count))]
            let seconds = 1_714_000_000 + number
            let json = """
                {"op":"u","source":{"lsn":"0/\(String(lsn, radix: 16, uppercase: true))","tx_ordinal":\(number % 7),\
                "table":"public.customers","commit_time":"2024-04-25T\(seconds / 3600 % 24):\(seconds / 60 % 60):\(seconds % 60)Z"},\
                "key":{"id":\(id)},"after":{"id":\(id),"email":"customer\(id)@example.com","name":"Customer \(id)",\
                "city":"\(city)","plan":"\(plan)","balance":\(balance),"currency":"EUR","active":\(id % 5 != 0),\
                "orders":\(random.next() % 500),"last_login":"2024-04-\(10 + id % 18)T08:\(id % 60):00Z",\
                "created_at":"2021-0\(1 + id % 9)-1\(id % 9)T12:00:00Z","tags":["t\(id % 13)","t\(id % 7)"],"notes":null,"version":\(number)}}
                """
            return Record(key: Array("{\"id\":\(id)}".utf8), value: Array(json.utf8), headers: [RecordHeader("op", "u")])
        }
    }

    /// Appends CDC JSON records in batches of 100 to a gzip log (level 1) and,
    /// in the same run, to an uncompressed log; `SyncPolicy.never`, one sync
    /// at the end. Reports input MB/s (record keys and values) against the
    /// uncompressed append, and the stored compression ratio.
    public static func gzipAppend(_ configuration: BenchConfiguration) throws -> [BenchReport] {
        let batch = configuration.batch(default: 100)
        let pool = cdcRecords(count: 20_000, keys: 100_000)
        let poolBytes = pool.reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
        let inputTarget = min(configuration.bytes, 128 << 20)
        let batches = max(inputTarget / (poolBytes / pool.count) / batch, 1)
        var inputBytes = 0
        for number in 0..<batches {
            let start = number * batch % (pool.count - batch)
            inputBytes += pool[start..<start + batch].reduce(0) { $0 + ($1.key?.count ?? 0) + ($1.value?.count ?? 0) }
        }
        var best = Double.infinity
        var bestReference = Double.infinity
        var stats = StorageStats()
        for _ in 0..<max(configuration.rounds, 1) {
            for compression in [Compression.none, .gzip(level: Compression.defaultGzipLevel)] {
                try withBenchDirectory(in: configuration.directory) { directory in
                    var options = LogOptions(syncPolicy: .never)
                    options.compression = compression
                    let log = try Log.open(directory: directory.file("log"), options: options)
                    defer { try? log.close() }
                    let seconds = try measureSeconds {
                        for number in 0..<batches {
                            let start = number * batch % (pool.count - batch)
                            try log.append(pool[start..<start + batch])
                        }
                        try log.sync()
                    }
                    if compression == .none {
                        bestReference = min(bestReference, seconds)
                    } else {
                        best = min(best, seconds)
                        stats = try log.storageStats()
                    }
                }
            }
        }
        let ratio = Double(stats.rawBytes) / Double(max(stats.storedBytes, 1))
        let setup =
            "CDC JSON change records (about \(poolBytes / pool.count) B each), batches of \(batch), gzip level \(Compression.defaultGzipLevel), "
            + "SyncPolicy.never, one sync at the end (timed); reference: the same appends uncompressed"
        let throughput = BenchReport(
            workload: Workload.gzipAppendCDCJSON.rawValue,
            figure: Figure("gzip append, input (keys + values)", Double(inputBytes) / best / 1e6, "MB/s"),
            reference: Figure("uncompressed append, input", Double(inputBytes) / bestReference / 1e6, "MB/s"),
            target: Target(.figure, .atLeast, 100, "MB/s"),
            details: [
                Figure("compression ratio (raw / stored batches)", ratio, "x"), Figure("seconds", best, "s"),
                Figure("input", Double(inputBytes) / 1_048_576, "MiB"),
                Figure("stored", Double(stats.storedBytes) / 1_048_576, "MiB"),
            ],
            setup: setup)
        let compression = BenchReport(
            workload: Workload.gzipAppendCDCJSON.rawValue + "-ratio",
            figure: Figure("raw / stored batch bytes", ratio, "x"),
            target: Target(.figure, .atLeast, 3, "x"),
            details: [
                Figure("raw", Double(stats.rawBytes) / 1_048_576, "MiB"),
                Figure("stored", Double(stats.storedBytes) / 1_048_576, "MiB"),
                Figure("gzip batches", Double(stats.compressedBatches), "batches"),
            ],
            setup: setup)
        return [throughput, compression]
    }
}
