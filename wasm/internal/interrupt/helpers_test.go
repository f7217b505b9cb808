package interrupt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// allFeatures is every core feature wazero v1.12 can enable.
const allFeatures = api.CoreFeaturesV2 |
	experimental.CoreFeaturesThreads |
	experimental.CoreFeaturesTailCall |
	experimental.CoreFeaturesExtendedConst |
	experimental.CoreFeaturesExceptionHandling |
	experimental.CoreFeaturesTypedFunctionReferences

type engine struct {
	name string
	cfg  func() wazero.RuntimeConfig
}

var engines = []engine{
	{"compiler", wazero.NewRuntimeConfigCompiler},
	{"interpreter", wazero.NewRuntimeConfigInterpreter},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustInstrument(t testing.TB, wasm []byte) []byte {
	t.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

func newRuntime(t testing.TB, cfg wazero.RuntimeConfig, features api.CoreFeatures) wazero.Runtime {
	t.Helper()
	if features == 0 {
		features = api.CoreFeaturesV2
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCoreFeatures(features))
	t.Cleanup(func() { _ = r.Close(ctx) })
	return r
}

func instantiate(t testing.TB, r wazero.Runtime, wasm []byte, name string) api.Module {
	t.Helper()
	ctx := context.Background()
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("CompileModule: %v", err)
	}
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("InstantiateModule: %v", err)
	}
	return mod
}

func isTrap(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unreachable")
}

// interruptRunning starts fn (which must not return on its own) in a
// goroutine, sets the flag from another goroutine after delay, and returns
// fn's error and the time from setting the flag to fn's return.
func interruptRunning(t *testing.T, flag *Flag, delay time.Duration, fn func() error) (time.Duration, error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	select {
	case err := <-errc:
		t.Fatalf("call returned before the interrupt: %v", err)
	case <-time.After(delay):
	}
	setAt := make(chan time.Time, 1)
	go func() {
		setAt <- time.Now()
		flag.Interrupt()
	}()
	select {
	case err := <-errc:
		return time.Since(<-setAt), err
	case <-time.After(10 * time.Second):
		// The guest cannot be stopped any more; the process will leak the
		// goroutine, but the test must fail.
		t.Fatalf("call not interrupted within 10s of setting the flag")
	}
	return 0, errors.New("unreachable")
}

// Tiny binary-module builder for hand-assembled cases.

func leb(v uint32) []byte { return appendU32(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func module(sections ...[]byte) []byte {
	return cat(append([][]byte{wasmMagic, wasmVersion}, sections...)...)
}

func sec(id byte, content ...[]byte) []byte {
	c := cat(content...)
	return cat([]byte{id}, leb(uint32(len(c))), c)
}

func vec(items ...[]byte) []byte {
	return cat(append([][]byte{leb(uint32(len(items)))}, items...)...)
}

func str(s string) []byte { return cat(leb(uint32(len(s))), []byte(s)) }

func funcType(params, results []byte) []byte {
	return cat([]byte{0x60}, leb(uint32(len(params))), params, leb(uint32(len(results))), results)
}

// body encodes a code entry from local groups (already encoded) and code.
func body(locals [][]byte, code ...byte) []byte {
	b := cat(vec(locals...), code)
	return cat(leb(uint32(len(b))), b)
}

func export(name string, kind byte, idx uint32) []byte {
	return cat(str(name), []byte{kind}, leb(idx))
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
