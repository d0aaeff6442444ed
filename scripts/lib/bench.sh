# Helpers the benchmark scripts share. Source it after scripts/lib/throwaway-postgres.sh.

sql() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
# calc EXPR [FORMAT]: awk arithmetic, printed with FORMAT (default %.2f).
calc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }"; }
verdict() { awk "BEGIN { print ($1) ? \"PASS\" : \"MISS\" }"; }

# Waits up to $1 seconds for the shell condition $2; fails with message $3.
wait_for() {
    local deadline=$((SECONDS + $1))
    until eval "$2"; do
        if ((SECONDS >= deadline)); then
            echo "FAILED: $3" >&2
            return 1
        fi
        sleep 0.02
    done
}
