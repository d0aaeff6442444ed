# A Python venv with the Kafka clients the compatibility tests drive: one helper for every script.
#
# Source it from a bash script, then:
#   ensure_kafka_clients         # creates or updates the venv when needed, exports LOGD_KAFKA_PYTHON
#   "$LOGD_KAFKA_PYTHON" Tests/KafkaClients/kafka_clients.py kafka-python metadata --bootstrap 127.0.0.1:9092
#
# The clients are pinned in Tests/KafkaClients/requirements.txt. The venv lives in
# LOGD_KAFKA_VENV (default .build/kafka-clients-venv) and keeps a copy of the requirements it
# was built from: it is rebuilt only when that file changes, so a second call is quiet and quick.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

_kafka_clients_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

ensure_kafka_clients() {
    local requirements="$_kafka_clients_root/Tests/KafkaClients/requirements.txt"
    local venv="${LOGD_KAFKA_VENV:-$_kafka_clients_root/.build/kafka-clients-venv}"
    local stamp="$venv/logd-requirements.txt"
    if ! { [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; }; then
        # `python3 -m venv` needs ensurepip, which Debian ships apart as python3-venv.
        python3 -c 'import ensurepip' 2>/dev/null || ensure_apt_packages python3-venv
        echo "Installing the Kafka clients of $requirements into $venv (pip)..." >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
        # Written last: an interrupted install leaves no stamp and is redone next time.
        cp "$requirements" "$stamp"
    fi
    export LOGD_KAFKA_PYTHON="$venv/bin/python"
}
