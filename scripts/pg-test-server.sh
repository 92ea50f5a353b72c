#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, listening on 127.0.0.1 only.
#
#   pg-test-server.sh start     initdb (first time) and start it; prints its URL
#   pg-test-server.sh url       prints the URL (whether or not it runs)
#   pg-test-server.sh status    exit 0 when it runs
#   pg-test-server.sh ctl ARGS  runs pg_ctl ARGS on it as its owner (e.g. ctl stop -m fast)
#   pg-test-server.sh stop      stops it and deletes its directory
#
# PG_TEST_PORT (default 55432) and PG_TEST_DIR (default
# /tmp/chatd-pg-test-PORT) pick the cluster, so a test can run a dedicated
# one beside the shared one. PostgreSQL refuses to run as root: as root the
# cluster belongs to the `postgres` system user (runuser), so its directory
# must be one that user can reach. Trust
# authentication on 127.0.0.1 only: the superuser is `postgres`, no password.
# `make test` leaves the shared cluster running (another run in the same tree
# may be using it); `stop` ends it.
set -euo pipefail

port=${PG_TEST_PORT:-55432}
dir=${PG_TEST_DIR:-/tmp/chatd-pg-test-$port}
url="postgresql://postgres@127.0.0.1:$port/postgres"

bindir() {
  local d
  d=$(pg_config --bindir 2>/dev/null || true)
  [ -x "$d/initdb" ] || d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -x "$d/initdb" ] || { echo "pg-test-server: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  echo "$d"
}

# Runs a command as the cluster's owner: postgres when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$dir/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

init_cluster() {
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" ||
      { echo "pg-test-server: the postgres user cannot reach $dir (set PG_TEST_DIR)" >&2; exit 1; }
  fi
  chmod 700 "$dir"
  as_owner "$(bindir)/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; exit 1; }
  rm -f "$dir.initdb.log"
  # Loopback TCP only; the socket goes in the cluster's own directory.
  cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
synchronous_commit = on
fsync = on
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
EOF
}

start() {
  if running; then
    echo "$url"
    return 0
  fi
  [ -f "$dir/PG_VERSION" ] || init_cluster
  as_owner "$(bindir)/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 30 start >/dev/null ||
    { tail -n 20 "$dir/server.log" >&2; exit 1; }
  echo "$url"
}

stop() {
  if running; then as_owner "$(bindir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null; fi
  case "$dir" in
    */chatd-pg-test*) rm -rf "$dir" ;;
    *) echo "pg-test-server: left $dir in place (not a chatd-pg-test directory)" >&2 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  url) echo "$url" ;;
  status) running ;;
  ctl) shift; as_owner "$(bindir)/pg_ctl" -D "$dir" "$@" ;;
  stop) stop ;;
  *) echo "usage: $0 start|url|status|ctl ARGS|stop" >&2; exit 2 ;;
esac
