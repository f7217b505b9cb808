// Package guesttest builds guest modules for tests and benchmarks, so that
// `go test` needs nothing but the Go toolchain.
package guesttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// RepoRoot returns the repository root (the directory holding abi/SPEC.md).
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	if _, err := os.Stat(filepath.Join(root, "abi", "SPEC.md")); err != nil {
		tb.Fatalf("cannot find the repository root from %s: %v", file, err)
	}
	return root
}

// BuildGo compiles the package pkg (relative to the module in moduleDir,
// itself relative to the repository root) with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared and returns the module bytes. Results are cached per
// process; the Go build cache makes later processes fast.
func BuildGo(tb testing.TB, moduleDir, pkg string) []byte {
	tb.Helper()
	key := moduleDir + "|" + pkg
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[key]; ok {
		return b
	}
	dir := filepath.Join(RepoRoot(tb), moduleDir)
	out := filepath.Join(tb.TempDir(), "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s in %s: %v\n%s", pkg, dir, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	built[key] = b
	return b
}
