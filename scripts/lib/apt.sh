# Installs the Debian packages the project needs: one helper for every script.
#
# Source it from a bash script, then:
#   ensure_apt_packages zlib1g-dev postgresql-15    # installs the ones missing (apt-get update once)

# Debian packages the build and the tests need.
LOGD_BUILD_PACKAGES=(zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev)
LOGD_TEST_PACKAGES=(postgresql-15 kcat python3-venv jq)

_apt_updated=""
ensure_apt_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing ${missing[*]} (apt-get)..." >&2
    if [ -z "$_apt_updated" ]; then
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
