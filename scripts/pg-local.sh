#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for kiln's PostgreSQL tests, installing
# Debian's package first if the server binaries are missing, and prints its URL on stdout
# (everything else goes to stderr). A server already answering at KILN_PG_PORT is reused.
#
#   export KILN_TEST_POSTGRES="$(scripts/pg-local.sh)"
#
# Environment: KILN_PG_DIR (data directory, default /tmp/kiln-pg), KILN_PG_PORT (55432).
set -euo pipefail
dir="${KILN_PG_DIR:-/tmp/kiln-pg}"
port="${KILN_PG_PORT:-55432}"
url="postgresql://kiln@127.0.0.1:${port}/kiln"

bin=""
for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && bin="$d"
done
if [ -z "$bin" ]; then
    echo "installing Debian's postgresql package" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && bin="$d"
    done
fi
[ -n "$bin" ] || { echo "no PostgreSQL server binaries found" >&2; exit 1; }

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    echo "$url"
    exit 0
fi

# The server refuses to run as root: run it as the package's `postgres` user then.
as_server() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
rm -rf "$dir"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
as_server "$bin/initdb" -D "$dir/data" -U kiln --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200 -c fsync=off" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
as_server "$bin/createdb" -h 127.0.0.1 -p "$port" -U kiln kiln >&2
echo "$url"
