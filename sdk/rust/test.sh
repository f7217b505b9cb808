#!/usr/bin/env bash
# Runs the Rust SDK's native tests with rustc alone (no cargo): the SDK's
# unit tests and doc tests, and the unit tests of the conformance module and
# of every example in examples/rust/. When node is installed, the SDK's unit
# tests also run compiled for wasm32-wasi under Node's WASI (the 32-bit C
# Data layout and the SIMD paths). The wasm side is also tested by the host:
# `bin/weir abi check bin/sdk/conformance-rust.wasm` and
# `go test -run TestSDKRust ./cmd/weir/`.
#
#   bash sdk/rust/test.sh
#
# RUSTC and RUSTDOC (default /usr/bin/rustc, /usr/bin/rustdoc) may point to
# another toolchain >= 1.63 with a host standard library.
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk/../.." && pwd)
rustc=${RUSTC:-/usr/bin/rustc}
rustdoc=${RUSTDOC:-/usr/bin/rustdoc}
build=$(mktemp -d "${TMPDIR:-/tmp}/weir-rust-test.XXXXXX")
trap 'rm -rf "$build"' EXIT

flags=(--edition 2021 -C opt-level=1 -D warnings)

echo "== weir: unit tests"
"$rustc" "${flags[@]}" --test --crate-name weir "$sdk/src/lib.rs" -o "$build/weir-test"
"$build/weir-test" -q

"$rustc" "${flags[@]}" --crate-type rlib --crate-name weir "$sdk/src/lib.rs" -o "$build/libweir.rlib"
echo "== weir: doc tests"
"$rustdoc" --edition 2021 --test --crate-name weir "$sdk/src/lib.rs" -L "$build" --extern weir="$build/libweir.rlib"

# test CRATE_DIR NAME: the unit tests of a crate using the SDK.
test_crate() {
	echo "== $2: unit tests"
	"$rustc" "${flags[@]}" --test --crate-name "$2" -L "$build" --extern weir="$build/libweir.rlib" \
		"$1/src/lib.rs" -o "$build/$2-test"
	"$build/$2-test" -q
}

test_crate "$sdk/conformance" weir_conformance
for dir in "$root"/examples/rust/*/; do
	[ -f "$dir/src/lib.rs" ] || continue
	name=$(basename "$dir")
	test_crate "$dir" "$(echo "$name" | tr -- - _)"
done

if command -v node >/dev/null 2>&1; then
	echo "== weir: unit tests on wasm32-wasi (node)"
	"$rustc" --edition 2021 --target wasm32-wasi -C opt-level=1 -C target-feature=+simd128,+bulk-memory -D warnings \
		--test --crate-name weir "$sdk/src/lib.rs" -o "$build/weir-test.wasm"
	node --no-warnings --input-type=module -e '
		import { readFile } from "node:fs/promises";
		import { WASI } from "node:wasi";
		const wasi = new WASI({ version: "preview1", args: ["weir-test", "-q", "--test-threads=1"], env: {} });
		const mod = await WebAssembly.compile(await readFile(process.argv[1]));
		process.exitCode = wasi.start(await WebAssembly.instantiate(mod, wasi.getImportObject()));
	' "$build/weir-test.wasm"
else
	echo "== weir: node not found, skipping the unit tests on wasm32-wasi (TestSDKRustUnitTestsOnWasm runs them in wazero)"
fi
