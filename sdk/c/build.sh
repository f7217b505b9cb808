#!/usr/bin/env bash
# build.sh OUTDIR - builds, with clang and wasi-libc only:
#   OUTDIR/sdk/conformance-c.wasm          the C SDK's conformance module
#   OUTDIR/examples/c/<name>.wasm          every example in examples/c/<name>/
#   OUTDIR/sdk/minimal-wat.wasm            the minimal WAT SDK (sdk/wat/minimal.wat)
#   OUTDIR/sdk/c-test/unit.wasm            the SDK's unit tests (a WASI command)
#   OUTDIR/sdk/c-test/conformance-ubsan.wasm  the conformance module with
#                                          undefined-behaviour checks that trap
# Works from any directory. Environment: CC (default clang), WASI_SYSROOT
# (default: found under /usr), WAT2WASM (default wat2wasm).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: bash sdk/c/build.sh OUTDIR" >&2
	exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
mkdir -p "$1/sdk/c-test" "$1/examples/c"
out="$(cd "$1" && pwd)"

cc="${CC:-clang}"
wat2wasm="${WAT2WASM:-wat2wasm}"
need() {
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "build.sh: $1 not found: $2" >&2
		exit 1
	fi
}
need "$cc" "install clang (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)"
need "$wat2wasm" "install wabt (Debian: apt-get install wabt)"

# wasi-libc: Debian puts its headers in /usr/include/wasm32-wasi and its
# libraries in /usr/lib/wasm32-wasi, so the sysroot is /usr.
sysroot="${WASI_SYSROOT:-}"
if [ -z "$sysroot" ]; then
	for d in /usr /opt/wasi-sdk/share/wasi-sysroot /usr/share/wasi-sysroot; do
		if [ -f "$d/include/wasm32-wasi/stdlib.h" ] || [ -f "$d/include/stdlib.h" -a -f "$d/lib/wasm32-wasi/libc.a" ]; then
			sysroot="$d"
			break
		fi
	done
fi
if [ -z "$sysroot" ]; then
	echo "build.sh: wasi-libc not found (Debian: apt-get install wasi-libc), or set WASI_SYSROOT" >&2
	exit 1
fi

target=(--target=wasm32-wasi "--sysroot=$sysroot")
# Every feature used here is in wazero's default (WebAssembly 2.0) set.
features=(-msimd128 -mbulk-memory -mnontrapping-fptoint -msign-ext)
warnings=(-std=c11 -Wall -Wextra -Werror)
release=(-mexec-model=reactor -O3 -flto -Wl,--strip-all -Wl,--lto-O3)

build() { # output, sources...
	local o="$1"
	shift
	"$cc" "${target[@]}" "${features[@]}" "${warnings[@]}" "${release[@]}" -I "$here" -o "$o" "$@"
}

build "$out/sdk/conformance-c.wasm" "$here/conformance.c"

for dir in "$root"/examples/c/*/; do
	[ -d "$dir" ] || continue
	name="$(basename "$dir")"
	build "$out/examples/c/$name.wasm" "$dir"*.c
done

"$wat2wasm" "$root/sdk/wat/minimal.wat" -o "$out/sdk/minimal-wat.wasm"

# Test builds: undefined behaviour (overflow, misaligned or out-of-bounds
# pointers, bad shifts ...) traps instead of going unnoticed.
checked=(-O1 -fsanitize=undefined -fsanitize-trap=undefined)
"$cc" "${target[@]}" "${features[@]}" "${warnings[@]}" "${checked[@]}" -I "$here" \
	-o "$out/sdk/c-test/unit.wasm" "$here/weir_test.c"
"$cc" "${target[@]}" "${features[@]}" "${warnings[@]}" "${checked[@]}" -mexec-model=reactor -I "$here" \
	-o "$out/sdk/c-test/conformance-ubsan.wasm" "$here/conformance.c"
