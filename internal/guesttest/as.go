package guesttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	asOnce sync.Once
	asDir  string // the build's output directory; removed never (one per process)
	asErr  string // build output when the build failed
)

// BuildAssemblyScript runs sdk/assemblyscript/build.sh into a temporary
// directory once per process and returns the SDK's conformance module and
// the directory holding the AssemblyScript examples (<name>.wasm). It fails
// the test, with the build's output, when node/npm are missing or the build
// fails.
func BuildAssemblyScript(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	root := RepoRoot(tb)
	asOnce.Do(func() {
		dir, err := os.MkdirTemp("", "weir-as-")
		if err != nil {
			asErr = err.Error()
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "sdk", "assemblyscript", "build.sh"), dir)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			asErr = "bash sdk/assemblyscript/build.sh: " + err.Error() + "\n" + string(out)
			return
		}
		asDir = dir
	})
	if asErr != "" {
		tb.Fatalf("build the AssemblyScript SDK: %s", asErr)
	}
	b, err := os.ReadFile(filepath.Join(asDir, "sdk", "conformance-as.wasm"))
	if err != nil {
		tb.Fatalf("build the AssemblyScript SDK: %v", err)
	}
	return b, filepath.Join(asDir, "examples", "assemblyscript")
}
