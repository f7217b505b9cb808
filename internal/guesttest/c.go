package guesttest

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// cBuild is the result of running sdk/c/build.sh once in this process: the
// bytes of every file it wrote, by slash-separated path under its output
// directory ("sdk/conformance-c.wasm", "examples/c/currency.wasm", ...).
var cBuild struct {
	sync.Mutex
	done  bool
	files map[string][]byte
	err   string
}

// BuildCFiles runs sdk/c/build.sh into a temporary directory (once per
// process) and returns its outputs by path. It fails the test with the build
// output when clang, wasi-libc or wat2wasm is missing or the build fails.
func BuildCFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	cBuild.Lock()
	defer cBuild.Unlock()
	if !cBuild.done {
		cBuild.files, cBuild.err = runCBuild(RepoRoot(tb))
		cBuild.done = true
	}
	if cBuild.err != "" {
		tb.Fatal(cBuild.err)
	}
	return cBuild.files
}

func runCBuild(root string) (map[string][]byte, string) {
	dir, err := os.MkdirTemp("", "weir-c-build-")
	if err != nil {
		return nil, "sdk/c/build.sh: " + err.Error()
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("bash", filepath.Join(root, "sdk", "c", "build.sh"), dir)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, "sdk/c/build.sh " + dir + ": " + err.Error() + "\n" + string(msg)
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, "sdk/c/build.sh outputs: " + err.Error()
	}
	return files, ""
}

// BuildCFile returns one output of sdk/c/build.sh ("sdk/minimal-wat.wasm",
// "sdk/c-test/unit.wasm", ...), failing the test if it was not built.
func BuildCFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, ok := BuildCFiles(tb)[name]
	if !ok {
		tb.Fatalf("sdk/c/build.sh did not write %s", name)
	}
	return b
}

// BuildC returns the C SDK's conformance module and a directory (removed
// when the test ends) holding the C examples as <name>.wasm.
func BuildC(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	files := BuildCFiles(tb)
	examplesDir = tb.TempDir()
	for name, b := range files {
		if path.Dir(name) != "examples/c" {
			continue
		}
		if err := os.WriteFile(filepath.Join(examplesDir, path.Base(name)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return BuildCFile(tb, "sdk/conformance-c.wasm"), examplesDir
}
