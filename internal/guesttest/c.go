package guesttest

import (
	"path/filepath"
	"testing"
)

// BuildCFile returns one output of sdk/c/build.sh ("sdk/minimal-wat.wasm",
// "sdk/c-test/unit.wasm", ...), built once per process, failing the test
// if clang, wasi-libc or wat2wasm is missing or the file was not built.
func BuildCFile(tb testing.TB, name string) []byte {
	tb.Helper()
	return buildOutput(tb, "c", name)
}

// BuildC returns the C SDK's conformance module and the directory holding
// the C examples as <name>.wasm.
func BuildC(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	return buildOutput(tb, "c", "sdk/conformance-c.wasm"), filepath.Join(buildScript(tb, "c"), "examples", "c")
}
