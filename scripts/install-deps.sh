#!/usr/bin/env bash
# Installs what Portcullis needs on a Debian 12 machine, and nothing that is already there.
#
#   scripts/install-deps.sh build   Debian packages needed to compile the workspace
#   scripts/install-deps.sh test    the above, plus what the test suites run against
#                                   (Chromium, Redis, PostgreSQL, xmlsec1, wrk, hyperfine,
#                                   Node.js/npm)
#                                   the npm packages of tests/e2e, and the Python packages
#                                   of tests/requirements.txt in tests/.venv (pip: SMTP sink,
#                                   SAML SPs, scim2-tester and scim2-client)
#
# Idempotent: packages are checked with dpkg-query first, `apt-get update` runs only
# when something is missing, and `npm ci` only when tests/e2e/node_modules is missing
# or older than package-lock.json. Runs as root, or through sudo otherwise.
set -euo pipefail

usage() {
    echo "usage: $0 build|test" >&2
    exit 2
}

[[ $# -eq 1 ]] || usage
mode="$1"
case "$mode" in
    build | test) ;;
    *) usage ;;
esac

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_packages=(build-essential pkg-config cmake libclang-dev libssl-dev libxml2-dev libxmlsec1-dev)
# sqlite3 and redis-tools (redis-cli): bench/gateway.sh seeds sessions; openssl: the
# throw-away CAs of the upstream-TLS and SMTP end-to-end tests; postgresql: the
# store tests and the scale-out suite run against a real server; xmlsec1: pysaml2
# verifies with it. libxslt1-dev, python3-dev: lxml and xmlsec (python3-saml) are
# built from source against the system libxml2/libxmlsec1 (see tests/requirements.txt).
# ldap-utils: ldapsearch/ldapwhoami drive the LDAP interface (tests/e2e/ldap.test.mjs); apache2-bin:
# the same suite protects a page with mod_authnz_ldap (the binary and modules only, no service).
# curl: the script's HTTP client in tests/e2e/gateway-api-keys.test.mjs (sqlite3 there
# moves a key's expiry into the past).
test_packages=(chromium chromium-driver redis-server redis-tools xmlsec1 wrk hyperfine oathtool nginx-light sqlite3 openssl postgresql libxslt1-dev python3-dev ldap-utils apache2-bin curl)

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "install-deps: need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

is_installed() {
    local status
    status="$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)"
    [[ "$status" == "installed" ]]
}

wanted=("${build_packages[@]}")
if [[ "$mode" == "test" ]]; then
    wanted+=("${test_packages[@]}")
    # Node.js may come from elsewhere than Debian (e.g. a newer release with its own
    # npm); only fall back to Debian's packages when either command is missing.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        wanted+=(nodejs npm)
    fi
fi

missing=()
for pkg in "${wanted[@]}"; do
    if ! is_installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
    echo "install-deps: installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "install-deps: Debian packages for '$mode' already installed"
fi

if [[ "$mode" == "test" ]]; then
    e2e="$repo_root/tests/e2e"
    if [[ -f "$e2e/package.json" ]]; then
        # npm writes node_modules/.package-lock.json on every install: when the committed
        # lock is newer than it, the installed tree is stale.
        if [[ ! -d "$e2e/node_modules" ]] ||
            { [[ -f "$e2e/package-lock.json" ]] && [[ "$e2e/package-lock.json" -nt "$e2e/node_modules/.package-lock.json" ]]; }; then
            echo "install-deps: installing npm packages in tests/e2e"
            if [[ -f "$e2e/package-lock.json" ]]; then
                (cd "$e2e" && npm ci --no-audit --no-fund)
            else
                (cd "$e2e" && npm install --no-audit --no-fund)
            fi
        else
            echo "install-deps: tests/e2e/node_modules up to date"
        fi
    fi
    requirements="$repo_root/tests/requirements.txt"
    venv="$repo_root/tests/.venv"
    if [[ -f "$requirements" ]]; then
        # A virtual environment of our own: no system-wide pip installs, and
        # no clash with a distribution-managed Python.
        if [[ ! -x "$venv/bin/python" ]] || [[ "$requirements" -nt "$venv/.installed" ]]; then
            echo "install-deps: installing Python packages in tests/.venv"
            python3 -m venv "$venv"
            "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
            touch "$venv/.installed"
        else
            echo "install-deps: tests/.venv up to date"
        fi
    fi
fi
