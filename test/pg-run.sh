#!/usr/bin/env bash
# pg-run.sh — a throwaway Postgres for the tests (Debian's postgresql).
#
#   test/pg-run.sh run CMD [ARG…]  start one, run CMD with FRUGAL_TEST_PG_DSN
#                                  set, stop it; CMD's exit status
#   test/pg-run.sh start           start one; print "DIR DSN" (one line)
#   test/pg-run.sh stop DIR        stop it and remove DIR
#   test/pg-run.sh pause DIR       stop the server, keep its data
#   test/pg-run.sh resume DIR      start it again on the same socket
#   test/pg-run.sh createdb DIR DB a database of its own for one test
#   test/pg-run.sh sql DIR DB SQL  run SQL, print the rows (unaligned, |)
#
# The server runs from a temporary directory (initdb there), listens on a
# unix socket in that directory only (no TCP port to collide with), trusts
# local connections and runs with fsync off (test data).  Postgres refuses
# to run as root: as root it runs as `nobody`.
#
# Binaries missing: a loud SKIPPED message and exit status 0, unless
# FRUGAL_REQUIRE_PG=1 (.ci/run sets it): then exit status 1.
set -euo pipefail

find_bin() {
    local d
    d=$(pg_config --bindir 2>/dev/null || true)
    if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    return 1
}

if ! bin=$(find_bin); then
    echo "=================================================================" >&2
    echo "SKIPPED: the Postgres tests need Postgres (initdb, pg_ctl: Debian's" >&2
    echo "postgresql package, scripts/install-deps.sh installs it)" >&2
    echo "=================================================================" >&2
    [ "${FRUGAL_REQUIRE_PG:-0}" = 1 ] && exit 1
    [ "${1:-}" = start ] && exit 3 # the caller (test/e2e/lib/pg.mjs) skips loudly
    exit 0
fi

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

ctl_start() {
    local dir=$1
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-k $dir -c listen_addresses= -c fsync=off -c max_connections=200" start >/dev/null
}

start() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/frugal-pg.XXXXXX")
    [ "$(id -u)" = 0 ] && chown nobody "$dir"
    if ! as_pg "$bin/initdb" -D "$dir/data" -U frugal -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        return 1
    fi
    if ! ctl_start "$dir"; then
        cat "$dir/log" >&2
        rm -rf "$dir"
        return 1
    fi
    echo "$dir postgresql://frugal@/postgres?host=$dir"
}

stop() {
    local dir=$1
    case $dir in "${TMPDIR:-/tmp}"/frugal-pg.*) ;; *) echo "pg-run.sh: not ours: $dir" >&2; return 1 ;; esac
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case ${1:-} in
start) start ;;
stop) stop "$2" ;;
pause) as_pg "$bin/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null ;;
resume) ctl_start "$2" ;;
createdb) "$bin/createdb" -h "$2" -U frugal "$3" ;;
sql) "$bin/psql" -X -q -h "$2" -U frugal -d "$3" -v ON_ERROR_STOP=1 -At -c "$4" ;;
run)
    shift
    read -r dir dsn < <(start)
    trap 'stop "$dir"' EXIT
    FRUGAL_TEST_PG_DSN=$dsn "$@"
    ;;
*) echo "usage: $0 run CMD…|start|stop DIR|pause DIR|resume DIR" >&2; exit 2 ;;
esac
