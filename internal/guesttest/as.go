package guesttest

import (
	"path/filepath"
	"testing"
)

// BuildAssemblyScript runs sdk/assemblyscript/build.sh once per process and
// returns the SDK's conformance module and the directory holding the
// AssemblyScript examples (<name>.wasm). It fails the test, with the
// build's output, when node/npm are missing or the build fails.
func BuildAssemblyScript(tb testing.TB) (conformance []byte, examplesDir string) {
	tb.Helper()
	return buildOutput(tb, "assemblyscript", "sdk/conformance-as.wasm"),
		filepath.Join(buildScript(tb, "assemblyscript"), "examples", "assemblyscript")
}
