#!/usr/bin/env bash
# Builds sql/install.sql, the one file users run, from the schema's sources in sql/src/*.sql
# (concatenated in file-name order). `sql/build.sh --check` exits 1 when the committed
# install.sql is not what the sources build (the sql module's tests run it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
built=$(mktemp)
trap 'rm -f "$built"' EXIT
cat "$here"/src/*.sql > "$built"
if [ "${1:-}" = "--check" ]; then
  if ! cmp -s "$built" "$here/install.sql"; then
    echo "sql/install.sql is not built from sql/src/*.sql: run sql/build.sh and commit the result" >&2
    diff -u "$here/install.sql" "$built" | head -40 >&2 || true
    exit 1
  fi
  exit 0
fi
cp "$built" "$here/install.sql"
