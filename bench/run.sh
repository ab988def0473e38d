#!/usr/bin/env bash
# Runs the peer benchmark, installing the peers it compares against first:
# the Debian packages prometheus-postgres-exporter and prometheus-mysqld-exporter, and
# the pg_exporter crate into ~/.cache/dbconn-bench (outside the project). A peer that
# cannot be installed is reported in bench/RESULTS.md and the run goes on without it.
#
#   bench/run.sh                       # everything: both engines, N = 10 100 1000 2000
#   bench/run.sh --engine pg 10 100    # arguments go to the benchmark
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${DBCONN_BENCH_CACHE:-$HOME/.cache/dbconn-bench}
mkdir -p "$cache"

missing=()
command -v prometheus-postgres-exporter >/dev/null || missing+=(prometheus-postgres-exporter)
command -v prometheus-mysqld-exporter >/dev/null || missing+=(prometheus-mysqld-exporter)
if ((${#missing[@]})); then
  sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y \
    --no-install-recommends "${missing[@]}" || echo "could not install ${missing[*]}" >&2
fi

if [[ ! -x $cache/pg_exporter/bin/pg_exporter ]]; then
  echo "installing the pg_exporter crate into $cache/pg_exporter (log: $cache/install.log)"
  CARGO_TARGET_DIR=$cache/target cargo install pg_exporter --root "$cache/pg_exporter" \
    >"$cache/install.log" 2>&1 || {
      echo "cargo install pg_exporter failed; the benchmark runs without it:" >&2
      tail -20 "$cache/install.log" >&2
    }
fi

export DBCONN_BENCH_PG_EXPORTER=$cache/pg_exporter/bin/pg_exporter
cd "$here" && cargo bench --bench peers -- "$@" && cargo bench --bench encode
