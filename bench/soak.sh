#!/usr/bin/env bash
# Soak test (not in CI): runs the release exporter against PostgreSQL while sessions
# come and go, scrapes it every second, and every 10 s records its RSS (VmRSS) and the
# sessions it holds on the server into a CSV. Prints min/max RSS and the RSS slope.
#
#   bench/soak.sh                 # 30 minutes against a throwaway cluster
#   bench/soak.sh 5m              # shorter (s, m or h suffix; plain number = seconds)
#   bench/soak.sh 30m postgres://postgres@db:5432/postgres   # against a given server
#
# Environment: SOAK_CSV (default bench/soak-<date>.csv), DBCONN_PG_BINDIR (throwaway
# cluster binaries), SOAK_CHURN (concurrent session-churn loops, default 4).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-30m}
dsn=${2:-}
case $duration in
  *h) secs=$(( ${duration%h} * 3600 )) ;;
  *m) secs=$(( ${duration%m} * 60 )) ;;
  *s) secs=${duration%s} ;;
  *) secs=$duration ;;
esac
csv=${SOAK_CSV:-$here/bench/soak-$(date -u +%Y%m%dT%H%M%SZ).csv}
churn=${SOAK_CHURN:-4}

work=$(mktemp -d /tmp/dbconn-soak.XXXXXX)
pids=()
cleanup() {
  # The loops, and what they started (a psql in the middle of its sleep would
  # otherwise outlive them).
  local kids
  kids=$(for p in "${pids[@]}"; do pgrep -P "$p"; done)
  for p in "${pids[@]}" $kids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n ${pgbin:-} && -f $work/data/postmaster.pid ]]; then
    run_pg "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

run_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [[ -z $dsn ]]; then
  pgbin=${DBCONN_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
  port=$(free_port)
  [[ $(id -u) == 0 ]] && chown postgres "$work"
  run_pg "$pgbin/initdb" -D "$work/data" -U postgres -A trust --no-sync >/dev/null
  run_pg "$pgbin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w -o \
    "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" \
    start >/dev/null
  dsn="postgres://postgres@127.0.0.1:$port/postgres"
fi

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
bin=$here/target/release/dbconn_exporter
listen_port=$(free_port)
"$bin" --target="soak=$dsn" --web.listen-address="127.0.0.1:$listen_port" --log.level=warn \
  2>"$work/exporter.log" &
exporter=$!
pids+=("$exporter")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$listen_port/-/healthy" >/dev/null && break; sleep 0.1; done

# Sessions coming and going: each loop opens a psql session that stays for a random
# 0–5 s, active, idle in transaction, or just one query; 20 more stay active in 30 s
# statements, reconnecting after each.
for i in $(seq "$churn"); do
  (
    while true; do
      case $((RANDOM % 3)) in
        0) sql="SELECT pg_sleep($((RANDOM % 5)))" ;;
        1) sql="BEGIN; SELECT 1; SELECT pg_sleep($((RANDOM % 5))); COMMIT" ;;
        *) sql="SELECT 1" ;;
      esac
      PGAPPNAME="churn-$i" psql "$dsn" -qAt -c "$sql" >/dev/null 2>&1 || sleep 1
    done
  ) &
  pids+=("$!")
done
for i in $(seq 20); do
  ( while true; do PGAPPNAME="steady" psql "$dsn" -qAt -c "SELECT pg_sleep(30)" >/dev/null 2>&1 || sleep 1; done ) &
  pids+=("$!")
done
( while true; do curl -s -o /dev/null "http://127.0.0.1:$listen_port/metrics"; sleep 1; done ) &
pids+=("$!")

echo "elapsed_s,rss_kb,exporter_sessions" >"$csv"
start=$(date +%s)
while true; do
  now=$(date +%s); elapsed=$((now - start))
  kill -0 "$exporter" || { echo "the exporter died:" >&2; cat "$work/exporter.log" >&2; exit 1; }
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$exporter/status")
  sessions=$(psql "$dsn" -qAt -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbconn_exporter'")
  echo "$elapsed,$rss,$sessions" >>"$csv"
  ((elapsed >= secs)) && break
  sleep $((10 - ($(date +%s) - now) % 10))
done

echo "soak: $duration against ${dsn%%@*}@…, CSV: $csv"
awk -F, 'NR > 1 {
  n++; x[n] = $1; y[n] = $2; if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2
  if ($3 > smax) smax = $3; if (smin == "" || $3 < smin) smin = $3
} END {
  for (i = 1; i <= n; i++) { sx += x[i]; sy += y[i] }
  mx = sx / n; my = sy / n
  for (i = 1; i <= n; i++) { num += (x[i] - mx) * (y[i] - my); den += (x[i] - mx) ^ 2 }
  slope = den > 0 ? num / den : 0
  printf "samples %d; RSS min %d kB, max %d kB; slope %.3f kB/min (%.1f kB/h); exporter sessions min %d, max %d\n",
    n, min, max, slope * 60, slope * 3600, smin, smax
}' "$csv"
