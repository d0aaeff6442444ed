# A throwaway Postgres 15 for scripts: a fresh cluster in a temp dir, on a free port of
# 127.0.0.1, with logical WAL, trust authentication, and cleanup on any exit.
#
# Source it from a bash script that runs with `set -euo pipefail`, then:
#
#   throwaway_postgres_start          # installs postgresql-15 (apt) when missing, starts the server
#   psql -c 'select 1'                # PGHOST / PGPORT / PGUSER / PGDATABASE are exported
#   echo "$PG_DSN"                    # postgres://postgres@127.0.0.1:PORT/postgres
#   throwaway_postgres_stop           # optional: it also runs on exit, Ctrl-C or failure
#
#   on_exit 'kill "$pid" 2>/dev/null || true'   # more cleanup, run (newest first) before the
#                                               # server stops, so clients go before it does
#
# Settings: pass extra postgresql.conf lines to throwaway_postgres_start, e.g.
#   throwaway_postgres_start "shared_buffers = 256MB"
# PG_BIN overrides the binary directory (default /usr/lib/postgresql/15/bin).
#
# As root the server runs as the `postgres` user (runuser), which owns the temp dir;
# otherwise as the current user. Only this script's own server is ever stopped.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_TMP=""                # the temp dir: data/, server.log, the unix socket
PG_DSN=""

# --- cleanup on exit -------------------------------------------------------------------

_on_exit_commands=()

# Registers a command to run when the script exits (normally, on failure or on a signal).
# Commands run newest first; the server registered by throwaway_postgres_start stops last.
on_exit() {
    _on_exit_commands+=("$1")
}

_run_on_exit() {
    local status=$?
    trap - EXIT INT TERM HUP
    set +e
    local i
    for ((i = ${#_on_exit_commands[@]} - 1; i >= 0; i--)); do
        eval "${_on_exit_commands[i]}"
    done
    exit "$status"
}

trap _run_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- helpers -----------------------------------------------------------------------------

_as_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the user the server belongs to (postgres when we are root), from the
# temp dir (the postgres user may not be allowed into the caller's working directory).
_as_server_user() {
    if _as_root; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
_free_port() {
    local port tries
    for ((tries = 0; tries < 100; tries++)); do
        port=$((20000 + RANDOM % 40000))
        # Nothing answers a connect: take it (a race with another process is retried by the caller).
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}

# --- start / stop ------------------------------------------------------------------------

throwaway_postgres_start() {
    if [ ! -x "$PG_BIN/initdb" ]; then
        ensure_apt_packages postgresql-15
    fi
    [ -x "$PG_BIN/initdb" ] || { echo "Postgres 15 not found in $PG_BIN" >&2; return 1; }
    if _as_root && ! id postgres >/dev/null 2>&1; then
        echo "running as root, but there is no 'postgres' user to run the server as" >&2
        return 1
    fi

    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/logd-pg.XXXXXX")
    on_exit throwaway_postgres_stop
    chmod 700 "$PG_TMP"
    if _as_root; then chown postgres:postgres "$PG_TMP"; fi

    _as_server_user "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
        >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; return 1; }

    # A throwaway: no fsync (the benchmarks measure the log, not Postgres' disk).
    # synchronous_commit stays on, so a commit reaches WAL (and the walsender) at once.
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$PG_TMP'"
        echo "wal_level = logical"
        echo "max_replication_slots = 20"
        echo "max_wal_senders = 20"
        echo "max_connections = 100"
        echo "fsync = off"
        echo "full_page_writes = off"
        echo "max_wal_size = 4GB"
        local line
        for line in "$@"; do echo "$line"; done
    } >>"$PG_TMP/data/postgresql.conf"
    printf '%s\n' \
        'local all all trust' \
        'local replication all trust' \
        'host all all 127.0.0.1/32 trust' \
        'host replication all 127.0.0.1/32 trust' >"$PG_TMP/data/pg_hba.conf"
    if _as_root; then chown -R postgres:postgres "$PG_TMP"; fi

    # A port can be taken between choosing and binding it: try a few.
    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(_free_port)
        if _as_server_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if [ "$attempt" -eq 5 ]; then
            echo "Postgres did not start; its log ($PG_TMP/server.log):" >&2
            cat "$PG_TMP/server.log" >&2 || true
            return 1
        fi
    done

    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    PG_DSN="postgres://postgres@127.0.0.1:$port/postgres"
    export PG_DSN
}

# Stops the server (fast: clients are disconnected) and removes its temp dir. Idempotent.
throwaway_postgres_stop() {
    [ -n "$PG_TMP" ] || return 0
    if [ -f "$PG_TMP/data/postmaster.pid" ]; then
        _as_server_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            _as_server_user "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
    PG_TMP=""
}
