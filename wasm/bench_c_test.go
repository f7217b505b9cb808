package wasm_test

import (
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
)

// The C SDK's conformance module (sdk/c/conformance.c, built by
// sdk/c/build.sh) in BenchmarkUDF.
func init() {
	benchGuests = append(benchGuests, benchGuest{name: "c", build: func(tb testing.TB) []byte {
		return guesttest.BuildCFile(tb, "sdk/conformance-c.wasm")
	}})
}
