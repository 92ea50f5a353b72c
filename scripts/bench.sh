#!/usr/bin/env bash
# `make bench`: every benchmark scenario on the bare relay, on chatd with
# SQLite and with PostgreSQL, and on the seed's Node.js design, in one run on
# this machine, so the figures can be read as ratios. Writes the JSON of each
# run under bench/results/<time>/ and regenerates docs/benchmarks.md with its
# tables and plots (scripts/bench-report.py). BENCH_QUICK=1 shortens it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

out="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
work=$(mktemp -d /tmp/chatd-bench.XXXXXX)
mkdir -p "$out"
gen=build/release/bench
ctl=build/release/chatctl
export JWT_SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export MESSAGE_ENCRYPTION_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
ulimit -n "$(ulimit -Hn)"

duration=${BENCH_DURATION:-3}
idle_max=${BENCH_IDLE_MAX:-19000}
rates=${BENCH_RATES:-"1000 2000 5000 10000"}
[ "${BENCH_QUICK:-0}" = 1 ] && { duration=2; idle_max=5000; rates="1000 10000"; }
users=$((idle_max + 100))

server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }

# Starts a server in the background on core 0, waits for its port, and
# records how long that took and the idle server's RSS in startup.json.
startup_json="$out/startup.json"
echo '{}' >"$startup_json"
start_server() { # name port command...
  local name=$1 port=$2 began
  shift 2
  began=$(date +%s%N)
  taskset -c 0 "$@" >"$work/$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 2000); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      local ms=$((($(date +%s%N) - began) / 1000000))
      sleep 0.2
      local rss=$(awk '/^VmRSS/ {print $2 * 1024}' "/proc/$server_pid/status")
      python3 - "$startup_json" "$name" "$ms" "$rss" <<'PY'
import json, sys
path, name, ms, rss = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
data = json.load(open(path))
data[name] = {"start_ms": ms, "rss_bytes": rss}
json.dump(data, open(path, "w"))
PY
      return 0
    fi
    sleep 0.005
  done
  echo "bench: $name did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

# The store alone, with no server: DMs straight to DATABASE_URL from the
# generator's process on core 0, where the server ran, with the server's
# settings (DB_POOL_SIZE among them; bench store).
store_alone() { # target
  env "${chatd_env[@]}" taskset -c 0 "$gen" store --label store --json "$out/$1.store.json" \
    --pairs 500 --window 4 --duration "$duration" --warmup 1 | sed 's/^/    /'
}

stop_server() {
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# Runs the generator on core 1: target scenario label [options...]
run() {
  local target=$1 scenario=$2 label=$3
  shift 3
  taskset -c 1 "$gen" "$scenario" --port "$port" --label "$label" --server-pid "$server_pid" \
    --json "$out/$target.$label.json" "$@" | sed 's/^/    /'
}

# The scenarios every target runs; a target may skip the slow ones.
scenarios() { # target [peer]
  local target=$1 peer=${2:-}
  # the paced runs first, on a quiet database: the closed loop after them
  # leaves a large WAL whose checkpoints would otherwise land in their tails
  for rate in $rates; do
    run "$target" dm-rate "rate$rate" --pairs 500 --rate "$rate" --duration "$duration" --warmup 1
  done
  run "$target" dm dm --pairs 500 --window 4 --duration "$duration" --warmup 1
  run "$target" fanout-user fanout --connections 100 --window 4 --duration "$duration" --warmup 1
  if [ -z "$peer" ]; then
    for n in 1000 5000 $idle_max; do
      run "$target" idle "idle$n" --connections "$n" --hold 2 --source-ips 64
    done
    run "$target" storm storm --connections 10000 --concurrency 512 --source-ips 64
  else
    # the seed peer accepts ~200 connections/s: a smaller idle and storm
    run "$target" idle idle2000 --connections 2000 --hold 2 --source-ips 64 --connect-timeout 60
    run "$target" storm storm --connections 2000 --concurrency 256 --source-ips 64
  fi
}

# Every server gets core 0 alone (the generator has core 1), so chatd runs one
# event loop beside its storage thread(s): more threads than cores only adds
# context switches. On PostgreSQL two pooled connections make bigger batches
# than the default eight on this machine (docs/database.md measures both).
chatd_env=(RATE_LIMIT_MESSAGES=10000 RATE_LIMIT_WINDOW_MS=100 MAX_CONNECTIONS=40000
           MAX_CONNECTIONS_PER_IP=40000 MAX_CONNECTIONS_PER_USER=200 HOST=127.0.0.1
           LOG_LEVEL=warn IDLE_TIMEOUT_MS=600000 WORKERS=1 DB_POOL_SIZE=2)

# The servers' ports lie below the kernel's ephemeral range (32768-60999
# here): inside it, a connection of the generator (tens of thousands of them)
# or of the readiness probe above can hold the port as its own local end,
# and a readiness probe can even connect to itself. Seen on 39102: the probe
# reported chatd up and chatd was gone a moment later; and twice in a row a
# chatd refused port 39300 as "in use" with nothing listening there.
say "bare relay"
port=29101
start_server relay "$port" build/bench/relay --port "$port" --threads 1
scenarios relay
stop_server

say "chatd, SQLite"
port=29102
export DATABASE_URL="sqlite:$work/chat.db"
"$ctl" init && "$ctl" bench-users "$users" >/dev/null
start_server chatd-sqlite "$port" env "${chatd_env[@]}" PORT="$port" build/release/chatd
scenarios chatd-sqlite
stop_server
store_alone chatd-sqlite

say "chatd, PostgreSQL"
pg_url=$(scripts/pg-test-server.sh start)
pg_admin="${pg_url%/*}/postgres"
psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS chatd_bench" -c "CREATE DATABASE chatd_bench"
export DATABASE_URL="${pg_url%/*}/chatd_bench"
"$ctl" init && "$ctl" bench-users "$users" >/dev/null
port=29103
start_server chatd-postgres "$port" env "${chatd_env[@]}" PORT="$port" build/release/chatd
scenarios chatd-postgres
stop_server
store_alone chatd-postgres

say "seed design (Node.js), PostgreSQL"
port=29104
start_server seed-node "$port" env PORT="$port" HOST=127.0.0.1 DATABASE_URL="$DATABASE_URL" \
  RATE_LIMIT_MESSAGES=10000 RATE_LIMIT_WINDOW_MS=100 MAX_CONNECTIONS=40000 \
  MAX_CONNECTIONS_PER_IP=40000 MAX_CONNECTIONS_PER_USER=200 IDLE_TIMEOUT_MS=600000 \
  node bench/peers/seed-node/server.js
scenarios seed-node peer
stop_server

if [ "${BENCH_PHYSICAL:-1}" = 1 ]; then
  say "physical limits"
  make -s -C bench/physical run 2>&1 | grep -v '^make' | tee "$out/physical.txt"
fi

scripts/bench-report.py "$out" docs/benchmarks.md
echo "results: $out; report: docs/benchmarks.md"
