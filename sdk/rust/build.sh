#!/usr/bin/env bash
# Builds the Rust SDK's conformance module and the Rust examples with rustc
# alone (no cargo, no network):
#
#   bash sdk/rust/build.sh OUTDIR
#
# writes OUTDIR/sdk/conformance-rust.wasm, OUTDIR/examples/rust/<name>.wasm for
# every crate in examples/rust/<name>/, and the SDK's test guests
# OUTDIR/sdk/rust-testdata/<name>.wasm (sdk/rust/testdata/<name>/). With
# WEIR_RUST_TESTS=1 it also builds the SDK's unit tests as a WASI command,
# OUTDIR/sdk/rust-testdata/sdk-tests.wasm (run by cmd/weir's
# TestSDKRustUnitTestsOnWasm under wazero). RUSTC (default /usr/bin/rustc, the
# toolchain with the wasm32-wasi target) may point to another rustc >= 1.63.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bash sdk/rust/build.sh OUTDIR" >&2
	exit 2
fi
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$sdk/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
rustc=${RUSTC:-/usr/bin/rustc}
target=wasm32-wasi

if ! command -v "$rustc" >/dev/null 2>&1; then
	echo "build.sh: $rustc not found: install rustc with the $target target (Debian: rustc, libstd-rust-dev-wasm32)" >&2
	exit 1
fi
if ! libdir=$("$rustc" --print target-libdir --target "$target" 2>/dev/null) || ! ls "$libdir"/libstd-*.rlib >/dev/null 2>&1; then
	echo "build.sh: $rustc has no standard library for $target (Debian: libstd-rust-dev-wasm32; rustup: rustup target add $target)" >&2
	exit 1
fi

# Release settings: -O3, one codegen unit, fat LTO across the SDK and std,
# wasm SIMD and bulk memory (wazero supports both), no debug info.
flags=(--edition 2021 --target "$target" -C opt-level=3 -C codegen-units=1 -C panic=abort
	-C target-feature=+simd128,+bulk-memory)

build=$(mktemp -d "${TMPDIR:-/tmp}/weir-rust-build.XXXXXX")
trap 'rm -rf "$build"' EXIT

"$rustc" "${flags[@]}" --crate-type rlib --crate-name weir "$sdk/src/lib.rs" -o "$build/libweir.rlib"

# cdylib CRATE_DIR NAME OUTPUT: a job module from CRATE_DIR/src/lib.rs.
cdylib() {
	"$rustc" "${flags[@]}" -C lto=fat -C strip=debuginfo --crate-type cdylib --crate-name "$2" \
		-L "$build" --extern weir="$build/libweir.rlib" "$1/src/lib.rs" -o "$3"
	echo "built $3 ($(wc -c <"$3") bytes)"
}

mkdir -p "$out/sdk"
cdylib "$sdk/conformance" weir_conformance "$out/sdk/conformance-rust.wasm"

mkdir -p "$out/examples/rust"
for dir in "$root"/examples/rust/*/; do
	[ -f "$dir/src/lib.rs" ] || continue
	name=$(basename "$dir")
	cdylib "$dir" "$(echo "$name" | tr -- - _)" "$out/examples/rust/$name.wasm"
done

mkdir -p "$out/sdk/rust-testdata"
for dir in "$sdk"/testdata/*/; do
	[ -f "$dir/src/lib.rs" ] || continue
	name=$(basename "$dir")
	cdylib "$dir" "$(echo "$name" | tr -- - _)" "$out/sdk/rust-testdata/$name.wasm"
done

if [ "${WEIR_RUST_TESTS:-}" = 1 ]; then
	"$rustc" --edition 2021 --target "$target" -C opt-level=1 -C target-feature=+simd128,+bulk-memory \
		--test --crate-name weir "$sdk/src/lib.rs" -o "$out/sdk/rust-testdata/sdk-tests.wasm"
	echo "built $out/sdk/rust-testdata/sdk-tests.wasm"
fi
