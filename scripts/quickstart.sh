#!/usr/bin/env bash
# The quick start, one command on a fresh Debian/Ubuntu machine with Swift 6:
#
#   1. installs what is missing (zlib1g-dev and the other codec libraries, postgresql-15) and builds logd (release);
#   2. appends a few records to the log `quickstart` and reads them back;
#   3. starts a throwaway Postgres 15, makes some changes, and captures them into the log
#      `quickstart-cdc` with `logd ingest postgres`; then reads, describes and verifies it.
#
# The logs stay in ./logd-data (the CLI's default data directory; $LOGD_DIR overrides it), so
# you can keep exploring with `.build/release/logd read quickstart-cdc` afterwards. The Postgres
# server is stopped and deleted when the script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/throwaway-postgres.sh

# Prints a command (quoting what needs it), then runs it.
run() {
    local shown="" word
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./:=@,+-]+$ ]]; then shown+=" $word"; else shown+=" '$word'"; fi
    done
    echo
    echo "\$${shown}"
    "$@"
}

ensure_apt_packages "${LOGD_BUILD_PACKAGES[@]}" "${LOGD_TEST_PACKAGES[@]}"

echo "Building logd (swift build -c release)..."
build=(-c release --product logd ${LOGD_SCRATCH_PATH:+--scratch-path "$LOGD_SCRATCH_PATH"})
swift build "${build[@]}"
bin=$(swift build "${build[@]}" --show-bin-path)
PATH="$bin:$PATH"

export LOGD_DIR=${LOGD_DIR:-$PWD/logd-data}
# Each run starts both logs afresh: a new throwaway server reuses the same WAL positions, and
# the ingester would take them for changes it already has.
rm -rf "$LOGD_DIR/quickstart" "$LOGD_DIR/quickstart-cdc"
echo "Logs go to $LOGD_DIR"

echo
echo "=== 1. Append and read back"
echo "\$ printf 'first line\\nsecond line\\n' | logd append quickstart --sync always"
printf 'first line\nsecond line\n' | logd append quickstart --sync always
run logd append quickstart --key user-42 --header source=quickstart '{"hello": "world"}'
run logd read quickstart
run logd read quickstart --format json
run logd stat quickstart
run logd verify quickstart

echo
echo "=== 2. Postgres change capture"
throwaway_postgres_start
echo "A throwaway Postgres 15 is listening on 127.0.0.1:$PGPORT (wal_level=logical): $PG_DSN"

echo
echo "--- a table with a few column types, and two rows already in it"
psql -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE customers (
    id         serial PRIMARY KEY,
    name       text NOT NULL,
    balance    numeric(10, 2) NOT NULL DEFAULT 0,
    active     boolean NOT NULL DEFAULT true,
    tags       text[],
    profile    jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, balance, tags, profile) VALUES
    ('Ada',   120.50, '{vip}', '{"city": "London"}'),
    ('Brian',   0.00, NULL,    NULL);
SQL
psql -c 'TABLE customers'

# The first run creates the publication and the replication slot (--create), copies the rows
# already there (--snapshot, op "r"), streams up to the server's current WAL position and
# exits (--until-caught-up). The slot remembers what the log holds.
run logd ingest postgres quickstart-cdc --dsn "$PG_DSN" --slot quickstart --publication quickstart \
    --create --snapshot --until-caught-up

echo
echo "--- changes: two transactions and a single statement"
psql -q -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
INSERT INTO customers (name, balance, tags, profile) VALUES ('Chen', 42.00, '{new,trial}', '{"city": "Taipei"}');
UPDATE customers SET balance = balance + 10 WHERE name = 'Ada';
COMMIT;

BEGIN;
UPDATE customers SET active = false, profile = profile || '{"churned": true}' WHERE name = 'Chen';
DELETE FROM customers WHERE name = 'Brian';
COMMIT;

UPDATE customers SET tags = array_append(tags, 'loyal') WHERE name = 'Ada';
SQL
psql -c 'TABLE customers'

# The second run resumes from the slot: it appends exactly the changes made since.
run logd ingest postgres quickstart-cdc --dsn "$PG_DSN" --slot quickstart --publication quickstart \
    --until-caught-up

echo
echo "--- the change records: one per row change, the value is a JSON envelope (docs/CDC.md);"
echo "    a delete is followed by a tombstone, its key with a null value (the empty line), for compaction"
run logd read quickstart-cdc
echo
echo "--- the same as JSON lines: offset, timestamp (commit time, ms), key (the primary key), value, headers"
echo "    (the last record of each transaction carries the header tx_end_lsn)"
run logd read quickstart-cdc --format json
echo
echo "--- with the keys and envelopes embedded as JSON, ready for jq '.value.after'"
run logd read quickstart-cdc --format json --key-format json --value-format json --from 2 --count 2
run logd stat quickstart-cdc
run logd verify quickstart-cdc

echo
echo "Done. The logs are in $LOGD_DIR (quickstart, quickstart-cdc); the Postgres server is gone."
echo "Try: ${bin#"$PWD/"}/logd read quickstart-cdc --from 2 --count 3"
