package main

// Integration test of the AssemblyScript SDK's examples: built with
// sdk/assemblyscript/build.sh (through guesttest), run on a real cluster,
// their output checked against an expectation computed here.

import (
	"path/filepath"
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
)

func TestSDKAssemblyScriptExamples(t *testing.T) {
	c := startCluster(t, 2, 2)
	_, examples := guesttest.BuildAssemblyScript(t)
	checkCurrencyExample(t, c, c.upload(t, filepath.Join(examples, "currency.wasm")))
}
