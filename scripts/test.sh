#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then lints, then
# checks the Dockerfile (hadolint, and its build stage replayed from exactly the
# files it copies: there is no Docker engine in CI), then runs unit tests, the
# integration tests against real servers, the PostgreSQL suite again on every other
# supported major (13-18), the alert rule tests and the packaging check (the systemd
# unit and the Kubernetes manifests validated, and the exporter run as each would
# run it). Any missing tool is a failure, never a skip.
#
#   scripts/test.sh                 # everything
#   DBCONN_PG_MAJORS="" scripts/test.sh   # skip the extra PostgreSQL majors
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== format and lint"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The crate map in src/lib.rs links every module: a broken link is a stale map.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet

echo "== Dockerfile"
.venv/bin/python3 scripts/check-dockerfile.py

echo "== alert rules and dashboards"
promtool check rules alerts/dbconn.rules.yml
promtool test rules alerts/tests/*.yml
scripts/gen-prometheusrule.sh --check
.venv/bin/python3 mixin/build.py --check

echo "== packaging (systemd unit, Kubernetes manifests)"
.venv/bin/python3 scripts/check-packaging.py

echo "== tests (system PostgreSQL, MariaDB, Prometheus, Alertmanager)"
cargo nextest run --locked --profile ci "$@"

# The system server is one major; the others come from real binaries fetched (and
# cached) by scripts/fetch-postgres.sh.
system_major="$(basename "$(dirname "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)")")"
for major in ${DBCONN_PG_MAJORS-13 14 15 16 17 18}; do
  [ "$major" = "$system_major" ] && continue
  echo "== PostgreSQL $major"
  bindir="$(scripts/fetch-postgres.sh "$major")"
  DBCONN_PG_BINDIR="$bindir" cargo nextest run --locked --profile ci \
    --test postgres --test faults --test postgres_privileges --test session --test contract -E 'not (binary(contract) and test(/^mariadb_/))' "$@"
done
