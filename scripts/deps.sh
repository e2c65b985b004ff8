#!/usr/bin/env bash
# Installs what the project needs beyond Go on a Debian machine: libzmq for
# the server and client (cgo), Python partd 1.3 with its codecs for the
# interoperability tests and the benchmark baselines, redis-server and
# redis-tools for the Redis store's tests, and iproute2 for the test that
# joins network namespaces, Node.js with the pinned apache-arrow for the
# Arrow interop test, and python3-dask for W7's Dask baseline. Idempotent: it installs only what is missing.
set -euo pipefail

pkgs=(gcc g++ make pkg-config libzmq3-dev redis-server redis-tools iproute2
      python3 python3-partd python3-zmq python3-snappy python3-msgpack
      python3-numpy python3-pandas python3-zstandard python3-dask)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js and npm, for arrowstore's JavaScript interop test. Checked by command,
# not dpkg: a machine may have Node.js from elsewhere (NodeSource's nodejs bundles
# npm, and Debian's npm package would conflict with it).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "deps: installing nodejs npm" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# The pinned apache-arrow (and codecs) the interop test reads keys with.
"$(dirname "$0")/npm-deps.sh"
