#!/usr/bin/env bash
# Real-browser check of an HTML report (kiln show RUN --html FILE / kiln report RUN -o FILE):
# headless Chromium loads it; the check fails on console errors, uncaught exceptions,
# requests that leave the file, and blank plots. See docs/browser-check.md.
#
#   scripts/browser-check.sh REPORT.html OUT_DIR [--min-plots N] [other check.py options]
#   scripts/browser-check.sh --self-test [OUT_DIR]
#
# Installs what it needs, quietly and only when missing: Debian's chromium (apt-get, as root)
# and Pillow, pinned, in a virtual environment under ~/.cache/kiln-browser-check.
# Exit status: 0 pass, 1 the page failed a check, 2 the check could not run.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
check_py="$here/tests/browser/check.py"
fixtures="$here/tests/browser/fixtures"
pillow_version="12.3.0"
venv="${KILN_BROWSER_CHECK_VENV:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/kiln-browser-check/venv}"

say() { echo "browser-check: $*" >&2; }

ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if [ "$(id -u)" != 0 ]; then
        say "/usr/bin/chromium is missing; install it with: apt-get install -y chromium"
        return 2
    fi
    say "installing Debian's chromium (apt-get)"
    local t0=$SECONDS log
    log="$(mktemp)"
    export DEBIAN_FRONTEND=noninteractive
    # No recommends: they bring a printing stack, GL drivers and upower; the fonts come along
    # by name. A fresh machine may have no package lists yet: update and try again.
    if ! apt-get install -y -qq --no-install-recommends chromium fonts-liberation >"$log" 2>&1; then
        apt-get update -qq >>"$log" 2>&1 || true
        if ! apt-get install -y -qq --no-install-recommends chromium fonts-liberation >>"$log" 2>&1; then
            tail -20 "$log" >&2
            rm -f "$log"
            say "could not install chromium"
            return 2
        fi
    fi
    rm -f "$log"
    say "chromium installed in $((SECONDS - t0)) s"
}

ensure_pillow() {
    if [ -x "$venv/bin/python" ] &&
        "$venv/bin/python" -c "import PIL, sys; sys.exit(PIL.__version__ != '$pillow_version')" 2>/dev/null; then
        return 0
    fi
    say "installing Pillow $pillow_version into $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" ||
        ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
            "pillow==$pillow_version"; then
        rm -rf "$venv"
        say "could not install Pillow $pillow_version"
        return 2
    fi
}

# The Debian launcher (/usr/bin/chromium) adds flags of its own (extensions, GPU
# rasterisation) and trips over some /dev/shm setups; the check passes its own flags to the
# binary behind it.
chromium_binary() {
    if [ -x /usr/lib/chromium/chromium ]; then echo /usr/lib/chromium/chromium; else echo /usr/bin/chromium; fi
}

# check.py has its own time limits (start, load, each protocol call); this one is the
# backstop: timeout signals its whole process group, Chromium included.
run_check() {
    local rc=0
    timeout -k 10 "${KILN_BROWSER_CHECK_TIMEOUT:-300}" \
        "$venv/bin/python" "$check_py" --chromium "${KILN_CHROMIUM:-$(chromium_binary)}" "$@" ||
        rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        say "timed out after ${KILN_BROWSER_CHECK_TIMEOUT:-300} s"
        return 2
    fi
    return "$rc"
}

self_test() {
    local out="${1:-$(mktemp -d)}" failed=0 name expect rc kinds
    mkdir -p "$out"
    # fixture  expected: "pass" or the failure kind that must be among the failures
    while read -r name expect; do
        set +e
        run_check "$fixtures/$name.html" "$out/$name" >"$out/$name.log" 2>&1
        rc=$?
        set -e
        kinds="$("$venv/bin/python" -c '
import json, sys
try:
    print(" ".join(sorted({f["kind"] for f in json.load(open(sys.argv[1]))["failures"]})))
except Exception:
    print("?")' "$out/$name/result.json")"
        if [ "$expect" = pass ] && [ "$rc" = 0 ]; then
            echo "self-test: ok   $name passes"
        elif [ "$expect" != pass ] && [ "$rc" = 1 ] && [[ " $kinds " == *" $expect "* ]]; then
            echo "self-test: ok   $name fails as it should ($kinds)"
        else
            echo "self-test: FAIL $name: expected $expect, got exit $rc (failures: ${kinds:-none})"
            sed 's/^/    /' "$out/$name.log"
            failed=$((failed + 1))
        fi
    done <<'EOF'
good pass
blank-plot blank
console-error console
external-request request
EOF
    if [ "$failed" -gt 0 ]; then
        echo "self-test: $failed of 4 fixtures did not behave; logs in $out"
        return 1
    fi
    echo "self-test: all 4 fixtures behave (logs in $out)"
}

main() {
    case "${1:-}" in
        -h | --help | "")
            sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
            [ -n "${1:-}" ] && return 0 || return 2
            ;;
    esac
    ensure_chromium || return 2
    ensure_pillow || return 2
    if [ "$1" = --self-test ]; then
        shift
        self_test "$@"
        return
    fi
    if [ $# -lt 2 ]; then
        say "usage: $0 REPORT.html OUT_DIR [options] | --self-test [OUT_DIR]"
        return 2
    fi
    run_check "$@"
}

main "$@"
