#!/usr/bin/env bash
# Installs the npm packages that arrowstore's JavaScript interop test
# (arrowstore/js_interop_test.go) runs with: apache-arrow and the pure-JS
# codecs that arrowstore/testdata/js/package-lock.json pins, into
# arrowstore/testdata/js/node_modules, by npm ci from the lock file.
# Idempotent: it does nothing when node_modules was installed from the same
# package.json and lock file. Needs node and npm (Debian: nodejs npm).
set -euo pipefail

dir="$(cd "$(dirname "$0")/.." && pwd)/arrowstore/testdata/js"
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "npm-deps: $tool is not installed (on Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done

stamp="$dir/node_modules/.partd-installed"
want="$(cd "$dir" && cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dir/node_modules/apache-arrow/package.json" ]; then
  exit 0
fi

echo "npm-deps: installing arrowstore/testdata/js/package-lock.json into its node_modules" >&2
if ! out="$(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error 2>&1)"; then
  echo "$out" >&2
  echo "npm-deps: npm ci failed in $dir" >&2
  exit 1
fi
echo "$want" >"$stamp"
