package guesttest

import (
	"path/filepath"
	"testing"
)

// BuildRust runs sdk/rust/build.sh once per process and returns the Rust
// SDK's conformance module and the directory holding the Rust examples
// (<name>.wasm). It fails the test with the build's output when the Rust
// toolchain (rustc with the wasm32-wasi target) is missing or the build
// fails.
func BuildRust(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	return buildOutput(tb, "rust", "sdk/conformance-rust.wasm"), filepath.Join(buildScript(tb, "rust"), "examples", "rust")
}

// RustTestGuest returns the Rust SDK's test module called name, from the
// same build as BuildRust: a test guest of sdk/rust/testdata/<name>, or
// "sdk-tests", the SDK's unit tests compiled for wasm32-wasi as a WASI
// command.
func RustTestGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	return buildOutput(tb, "rust", "sdk/rust-testdata/"+name+".wasm")
}
