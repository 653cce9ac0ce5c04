#!/usr/bin/env bash
# bench/kill9.sh — how much of the ledger a `kill -9` loses at full load (not
# a test: `make test` never runs it; README "Storage and durability" quotes it).
#
# Per run: start build/frugal serve (release build, the in-process sim as the
# provider, a fresh SQLite ledger), drive it flat out with wrk (-c CONNS,
# bench/post.lua, a small chat request), SIGKILL it after KILL9_AFTER_S
# seconds, let wrk finish, then compare wrk's completed responses (every one
# an answered call, 200 or 503) with the ledger's rows.  lost = answered -
# rows; the rate is answered / (time from wrk's start to the kill); lost ms =
# lost / rate, i.e. how many milliseconds of traffic were not on disk.
#
# Environment (defaults): FRUGAL_BIN=build/frugal KILL9_RUNS=3 KILL9_AFTER_S=4
#   KILL9_CONNS=64 KILL9_WORKERS=2 KILL9_PORT=18190
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRUGAL_BIN=${FRUGAL_BIN:-$ROOT/build/frugal}
RUNS=${KILL9_RUNS:-3}
AFTER=${KILL9_AFTER_S:-4}
CONNS=${KILL9_CONNS:-64}
WORKERS=${KILL9_WORKERS:-2}
PORT=${KILL9_PORT:-18190}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/frugal-kill9.XXXXXX")
trap '[ -n "${KILL9_KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

cat > "$TMP/frugal.yaml" <<YAML
server:
  listen: 127.0.0.1:$PORT
  workers: $WORKERS
  log_level: warn
storage: sqlite:$TMP/ledger.db
providers:
  - name: sim
    type: sim
models:
  - name: gpt-4o-mini
    provider: sim
YAML
printf '%s' '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"kill -9 durability probe"}]}' > "$TMP/body.json"

now_ms() { date +%s%3N; }

echo "| run | answered | rate /s | ledger rows | lost calls | lost ms |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for run in $(seq 1 "$RUNS"); do
  rm -f "$TMP"/ledger.db*
  "$FRUGAL_BIN" serve -c "$TMP/frugal.yaml" > "$TMP/frugal.out" 2> "$TMP/frugal.err" &
  pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break
    sleep 0.05
  done
  t0=$(now_ms)
  BENCH_BODY="$TMP/body.json" wrk -t1 -c"$CONNS" -d"$((AFTER + 2))s" -s "$ROOT/bench/post.lua" \
    "http://127.0.0.1:$PORT/v1/chat/completions" > "$TMP/wrk.out" 2>&1 &
  wpid=$!
  sleep "$AFTER"
  tk=$(now_ms)
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  wait "$wpid"
  res=$(grep BENCH_RESULT "$TMP/wrk.out")
  answered=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<< "$res")
  rows=$(sqlite3 "$TMP/ledger.db" "SELECT COUNT(*) FROM calls")
  awk -v r="$run" -v a="$answered" -v rows="$rows" -v ms="$((tk - t0))" 'BEGIN {
    rate = a / (ms / 1000); lost = a - rows; if (lost < 0) lost = 0;
    printf "| %d | %d | %.0f | %d | %d | %.1f |\n", r, a, rate, rows, lost, lost / rate * 1000 }'
done
