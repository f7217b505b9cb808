//go:build !wasip1

package weir

import (
	"fmt"
	"os"
)

// Outside wasm the host imports are emulated: errors are recorded for tests
// and log lines go to standard error (or to logSink when set).

var (
	lastError string
	logSink   func(Level, string)
)

func hostError(msg string) { lastError = msg }

func hostLog(level Level, msg string) {
	if logSink != nil {
		logSink(level, msg)
		return
	}
	fmt.Fprintf(os.Stderr, "weir %s: %s\n", level, msg)
}
