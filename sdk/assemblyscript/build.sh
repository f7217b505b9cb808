#!/usr/bin/env bash
# Builds the AssemblyScript SDK's conformance module and the AssemblyScript
# example jobs with this machine's toolchain (node, npm, the pinned asc):
#
#   bash sdk/assemblyscript/build.sh OUTDIR
#
# writes OUTDIR/sdk/conformance-as.wasm and
# OUTDIR/examples/assemblyscript/<name>.wasm. Runs `npm ci` first where
# node_modules is missing. Works from any current directory.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk/../.." && pwd)
examples="$root/examples/assemblyscript"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is not installed (the AssemblyScript SDK needs node >= 20 and npm)" >&2; exit 1; }
done

# npm ci when node_modules is missing or does not match the lock file's asc.
install() {
  local dir=$1
  if [ ! -x "$dir/node_modules/.bin/asc" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

install "$sdk"
mkdir -p "$out/sdk" "$out/examples/assemblyscript"
(cd "$sdk" && node_modules/.bin/asc --target release -o "$out/sdk/conformance-as.wasm")

if [ -d "$examples" ]; then
  install "$examples"
  for dir in "$examples"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/asconfig.json" ] || continue
    (cd "$dir" && "$examples/node_modules/.bin/asc" --target release -o "$out/examples/assemblyscript/$name.wasm")
  done
fi
