#!/usr/bin/env bash
# Replays a connection crisis on a throwaway PostgreSQL and shows the exporter
# watching it: the "payment API refusing logins" incident, 97 of 97 ordinary slots
# taken, most of them idle sessions of one application, two sessions idle in a
# transaction, one of them holding a row lock three others wait on.
#
#   scripts/demo.sh
#
# On a fresh Debian machine it installs what it needs (PostgreSQL's server and
# client, curl; as root or with sudo), builds the exporter (cargo build --release),
# and then needs no database of yours: everything lives in one temporary directory.
# It prints the URLs to open and waits; Ctrl-C (or SIGTERM) stops every process it
# started and removes the directory.
#
# DBCONN_DEMO_EXPORTER=/path/to/dbconn_exporter skips the build and runs that binary.
# DBCONN_PG_BINDIR picks the PostgreSQL server binaries (default: the newest
# /usr/lib/postgresql/*/bin).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[demo] %s\n' "$*"; }
die() { say "error: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# --- what it needs -------------------------------------------------------------------
# The same Debian packages scripts/setup.sh installs for these commands; the server
# package also creates the `postgres` account the server runs as under root.
missing=()
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ -z "${DBCONN_PG_BINDIR:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -n "${DBCONN_PG_BINDIR:-}" ]; then
  bindir=$DBCONN_PG_BINDIR
else
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -t/ -k5 -n | tail -n1)
fi
[ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] || die "no initdb/pg_ctl in $bindir"

if [ -n "${DBCONN_DEMO_EXPORTER:-}" ]; then
  exporter=$DBCONN_DEMO_EXPORTER
else
  command -v cargo >/dev/null 2>&1 || die "cargo is missing: install the Rust toolchain (rustup) first"
  say "building the exporter (cargo build --release)"
  cargo build --release --quiet
  exporter=${CARGO_TARGET_DIR:-target}/release/dbconn_exporter
fi
[ -x "$exporter" ] || die "no exporter binary at $exporter"

# --- everything below lives in $work and dies with the script ------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/dbconn-demo.XXXXXX")
pg_started=0
exporter_pid=
client_groups=()

# initdb and postgres refuse to run as root: under root they run as `postgres`.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root and there is no postgres account"
  chown postgres: "$work"
  chmod 700 "$work"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

cleanup() {
  trap - EXIT INT TERM
  set +e
  say "stopping: clients, exporter, PostgreSQL; removing $work"
  # The clients run in process groups of their own: psql and the sleeps it runs.
  for group in "${client_groups[@]}"; do
    kill -TERM -- "-$group" 2>/dev/null
  done
  for group in "${client_groups[@]}"; do
    for _ in $(seq 50); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$group" 2>/dev/null
  done
  if [ -n "$exporter_pid" ]; then
    kill -TERM "$exporter_pid" 2>/dev/null
    wait "$exporter_pid" 2>/dev/null
  fi
  if [ "$pg_started" = 1 ]; then
    as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate -w -t 30 stop >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a throwaway PostgreSQL: 100 slots, 3 reserved for superusers -------------------
say "starting PostgreSQL ($("$bindir/postgres" --version)) in $work"
as_pg "$bindir/initdb" -D "$work/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; die "initdb failed"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5; do
  pgport=$((20000 + RANDOM % 30000))
  port_in_use "$pgport" && continue
  if as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w -t 60 \
      -o "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work -c max_connections=100 -c superuser_reserved_connections=3" \
      start >/dev/null; then
    pg_started=1
    break
  fi
done
[ "$pg_started" = 1 ] || { cat "$work/postgres.log" >&2; die "PostgreSQL did not start"; }
say "PostgreSQL on 127.0.0.1:$pgport: max_connections 100, 3 reserved for superusers, so 97 ordinary slots"

admin() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres -d payflow -tA "$@"; }
psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgport" -U postgres -d postgres \
  -c "CREATE ROLE payflow LOGIN" -c "CREATE DATABASE payflow OWNER payflow" >/dev/null
admin -c "CREATE TABLE payments (id int PRIMARY KEY, status text NOT NULL)" \
  -c "INSERT INTO payments SELECT i, 'pending' FROM generate_series(1, 1000) i" \
  -c "ALTER TABLE payments OWNER TO payflow" >/dev/null

# --- the exporter first, so that it holds its slot before the server fills ----------
cat >"$work/dbconn.yml" <<EOF
targets:
  - name: payflow
    dsn: postgres://postgres@127.0.0.1:$pgport/payflow
collection:
  duration_thresholds: [10s, 30s, 1m, 5m]
incident:
  relief_idle_after: 10s      # idle sessions are offered for relief after 10 s (the demo's pace)
EOF
"$exporter" --config.file="$work/dbconn.yml" --web.listen-address=127.0.0.1:0 \
  >"$work/exporter.log" 2>&1 &
exporter_pid=$!
address=
for _ in $(seq 300); do
  address=$(sed -n 's/.*listening address=\([^ ]*\).*/\1/p' "$work/exporter.log" | head -n1)
  [ -n "$address" ] && break
  kill -0 "$exporter_pid" 2>/dev/null || { cat "$work/exporter.log" >&2; die "the exporter exited"; }
  sleep 0.1
done
[ -n "$address" ] || { cat "$work/exporter.log" >&2; die "the exporter did not listen"; }
wait_for() { # $1 = what, $2 = SQL returning t when done
  local until=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$until" ]; do
    [ "$(admin -c "$2")" = t ] && return 0
    sleep 0.1
  done
  die "timed out waiting for $1"
}
wait_for "the exporter's session" \
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'"
say "exporter listening on $address, its session open"

# --- the incident ---------------------------------------------------------------------
# Each client is a psql of the ordinary role `payflow` that stays connected: after
# its statements it runs `\! sleep`, which leaves the session idle (or idle in its
# transaction); a statement that waits on a lock or sleeps keeps it active.
cat >"$work/clients.sh" <<EOF
# A login can lose its slot to the demo's own superuser check taking an ordinary
# slot for a moment: psql then exits with 2, and the client tries again.
client() { # application, then psql -c arguments
  local app=\$1; shift
  (
    while :; do
      PGAPPNAME=\$app psql -X -q -h 127.0.0.1 -p $pgport -U payflow -d payflow "\$@" -c '\\! exec sleep 86400'
      [ \$? -eq 2 ] || break
      sleep 0.2
    done
  ) >/dev/null 2>&1 &
}
case "\$1" in
  holder)
    client batch-processor -c BEGIN -c "UPDATE payments SET status = 'held' WHERE id = 1" ;;
  rest)
    client batch-processor -c BEGIN -c "SELECT count(*) FROM payments"
    for i in 1 2 3; do client payflow-api -c "UPDATE payments SET status = 'retry' WHERE id = 1"; done
    for i in \$(seq 60); do client payflow-api -c "SELECT 1"; done
    for i in \$(seq 15); do client notification-service -c "SELECT 1"; done
    for i in \$(seq 10); do client reporting-service -c "SELECT 1"; done
    for i in \$(seq 6); do client reporting-service -c "SELECT pg_sleep(86400)"; done ;;
esac
wait
EOF
# One process group for every client, so that one signal ends them all; the row
# lock is taken before anyone queues behind it.
setsid bash "$work/clients.sh" holder </dev/null >>"$work/clients.log" 2>&1 &
client_groups+=($!)
wait_for "the row lock" "SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'batch-processor' AND state = 'idle in transaction'"
setsid bash "$work/clients.sh" rest </dev/null >>"$work/clients.log" 2>&1 &
client_groups+=($!)
wait_for "96 application sessions" "SELECT count(*) = 96 FROM pg_stat_activity WHERE usename = 'payflow'"
wait_for "three sessions waiting on the row lock" \
  "SELECT count(*) = 3 FROM pg_stat_activity WHERE usename = 'payflow' AND wait_event_type = 'Lock'"

refused=$(PGAPPNAME=payflow-api psql -X -q -h 127.0.0.1 -p "$pgport" -U payflow -d payflow -c 'SELECT 1' 2>&1 || true)
cat <<EOF

The payment API is refusing logins: 97 of 97 ordinary slots are taken (one by the
exporter), 85 sessions sit idle, 60 of them held by payflow-api; batch-processor
keeps two transactions open, one holding the row lock three payflow-api sessions wait on.
A new login now gets:
  ${refused//$'\n'/$'\n'  }

  metrics:        http://$address/metrics
  incident page:  http://$address/incident?target=payflow
  incident JSON:  http://$address/api/v1/incident?target=payflow
  in a terminal:  $exporter incident --exporter $address --target payflow

Idle sessions are offered for relief once idle for 10 s (incident.relief_idle_after).
Press Ctrl-C to stop everything and remove $work.
EOF
wait "$exporter_pid" || true
say "the exporter exited; its log:"
cat "$work/exporter.log" >&2
exit 1
