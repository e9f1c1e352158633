#!/usr/bin/env bash
# Makes `s3rver` (an S3-compatible server on the npm registry) available for the RCLONE tests and
# prints the path of its executable. Installs it with npm into a per-user cache the first time,
# so nothing is installed system-wide and a second run is instant.
#   usage: install_s3rver.sh            -> prints /path/to/s3rver, exit 0; exit 1 if impossible
set -euo pipefail

prefix="${PUSHCAP_NPM_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/pushcap/npm}"
bin="$prefix/node_modules/.bin/s3rver"
if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "install_s3rver.sh: npm not found (scripts/install-deps.sh installs nodejs/npm)" >&2
    exit 1
fi
mkdir -p "$prefix"
# A fixed major version: the tests rely on its CLI (--directory, --port, --address,
# --configure-bucket) and its default S3RVER/S3RVER credentials.
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error s3rver@3 >&2
[[ -x "$bin" ]] || { echo "install_s3rver.sh: npm did not produce $bin" >&2; exit 1; }
echo "$bin"
