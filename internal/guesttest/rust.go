package guesttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// rustBuild is the result of the one sdk/rust/build.sh run of the process.
type rustBuild struct {
	dir string // build output directory, kept for the life of the process
	err error  // the build's failure, with its output
}

var buildRust = sync.OnceValue(func() rustBuild {
	dir, err := os.MkdirTemp("", "weir-rust-")
	if err != nil {
		return rustBuild{err: fmt.Errorf("temp dir: %w", err)}
	}
	root, err := repoRoot()
	if err != nil {
		return rustBuild{err: err}
	}
	cmd := exec.Command("bash", filepath.Join(root, "sdk", "rust", "build.sh"), dir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "WEIR_RUST_TESTS=1") // also sdk-tests.wasm
	if out, err := cmd.CombinedOutput(); err != nil {
		return rustBuild{err: fmt.Errorf("bash sdk/rust/build.sh: %w\n%s", err, out)}
	}
	return rustBuild{dir: dir}
})

// repoRoot is RepoRoot without a testing.TB, for the once-per-process build.
func repoRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "sdk", "rust", "build.sh")); err != nil {
		return "", fmt.Errorf("cannot find sdk/rust/build.sh from %s: %w", file, err)
	}
	return root, nil
}

// BuildRust runs sdk/rust/build.sh into a temporary directory once per
// process and returns the Rust SDK's conformance module and the directory
// holding the Rust examples (<name>.wasm). It fails the test with the
// build's output when the Rust toolchain (rustc with the wasm32-wasi target)
// is missing or the build fails: it never skips.
func BuildRust(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	b := buildRust()
	if b.err != nil {
		tb.Fatalf("build the Rust SDK: %v", b.err)
	}
	mod, err := os.ReadFile(filepath.Join(b.dir, "sdk", "conformance-rust.wasm"))
	if err != nil {
		tb.Fatalf("build the Rust SDK: %v", err)
	}
	return mod, filepath.Join(b.dir, "examples", "rust")
}

// RustTestGuest returns the Rust SDK's test module called name, from the
// same once-per-process build as BuildRust: a test guest of
// sdk/rust/testdata/<name>, or "sdk-tests", the SDK's unit tests compiled
// for wasm32-wasi as a WASI command.
func RustTestGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	b := buildRust()
	if b.err != nil {
		tb.Fatalf("build the Rust SDK: %v", b.err)
	}
	mod, err := os.ReadFile(filepath.Join(b.dir, "sdk", "rust-testdata", name+".wasm"))
	if err != nil {
		tb.Fatalf("Rust test guest %s: %v", name, err)
	}
	return mod
}
