package guesttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// scriptBuild is the one run in this process of an SDK's build script.
type scriptBuild struct {
	once sync.Once
	dir  string // its output directory, kept for the life of the process
	err  string // the failure with the script's output
}

var (
	scriptsMu sync.Mutex
	scripts   = map[string]*scriptBuild{}
)

// scriptEnv is the extra environment of an SDK's build script.
var scriptEnv = map[string][]string{
	"rust": {"WEIR_RUST_TESTS=1"}, // also the SDK's unit tests for wasm32 (sdk-tests.wasm)
}

// buildScript runs `bash sdk/<sdk>/build.sh DIR` into a temporary directory
// once per process and returns DIR, where the script writes sdk/... and
// examples/<lang>/... It fails the test with the script's output when its
// toolchain is missing or the build fails: it never skips.
func buildScript(tb testing.TB, sdk string) string {
	tb.Helper()
	root := RepoRoot(tb)
	scriptsMu.Lock()
	b, ok := scripts[sdk]
	if !ok {
		b = &scriptBuild{}
		scripts[sdk] = b
	}
	scriptsMu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "weir-"+sdk+"-")
		if err != nil {
			b.err = err.Error()
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "sdk", sdk, "build.sh"), dir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), scriptEnv[sdk]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = "bash sdk/" + sdk + "/build.sh: " + err.Error() + "\n" + string(out)
			return
		}
		b.dir = dir
	})
	if b.err != "" {
		tb.Fatalf("build the %s SDK: %s", sdk, b.err)
	}
	return b.dir
}

// buildOutput reads one file the SDK's build script wrote (a slash path
// under its output directory), failing the test if it is missing.
func buildOutput(tb testing.TB, sdk, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(buildScript(tb, sdk), filepath.FromSlash(name)))
	if err != nil {
		tb.Fatalf("sdk/%s/build.sh did not write %s: %v", sdk, name, err)
	}
	return b
}
