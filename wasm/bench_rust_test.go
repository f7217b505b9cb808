package wasm_test

import (
	"testing"

	"github.com/weirflow/weir/internal/guesttest"
)

func init() {
	benchGuests = append(benchGuests, benchGuest{name: "rust", build: func(tb testing.TB) []byte {
		b, _ := guesttest.BuildRust(tb)
		return b
	}})
}
