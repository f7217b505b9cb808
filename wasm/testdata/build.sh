#!/bin/sh
# Rebuilds every .wasm under wasm/testdata from its .wat source with wabt's wat2wasm (default
# features: WebAssembly 2.0, incl. bulk memory). Both files are committed; run this after
# editing a .wat (the Taskfile's `generate` task calls it). Output is deterministic.
set -eu
cd "$(dirname "$0")"
if ! command -v wat2wasm >/dev/null 2>&1; then
	echo "build.sh: wat2wasm not found (install wabt: apt-get install wabt)" >&2
	exit 1
fi
find . -name '*.wat' | LC_ALL=C sort | while read -r wat; do
	wat2wasm "$wat" -o "${wat%.wat}.wasm"
done
