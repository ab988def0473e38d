#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine; a no-op when all of
# it is already there. The suite talks to real servers (PostgreSQL, MariaDB,
# PgBouncer, Prometheus, Alertmanager), so they must exist as binaries; the tests
# start their own throwaway instances and never touch the system services.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "need root to run: $*"; exit 1
  fi
}

# Debian packages: command to look for -> package that provides it.
declare -A packages=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [prometheus-alertmanager]=prometheus-alertmanager
  [pgbouncer]=pgbouncer
  [mariadbd]=mariadb-server
  [mariadb]=mariadb-client
  [psql]=postgresql-client
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${packages[$cmd]}")
done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # Package scripts may try to start services; there is no init system to do so in
  # a container, and the suite does not need them running.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The strict OpenMetrics parser the tests use is the reference one, from
# prometheus_client (Python), in a private virtualenv.
PY=.venv/bin/python3
if ! { [ -x "$PY" ] && "$PY" -c 'import prometheus_client.openmetrics.parser' 2>/dev/null; }; then
  say "creating .venv with prometheus-client"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check prometheus-client==0.26.0
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
say "ready"
