package wasm

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
)

// TestHostileLoad: modules refused at load, each with an error that names
// the module and the problem.
func TestHostileLoad(t *testing.T) {
	cases := []struct {
		file string
		want error
		msg  string
	}{
		{"bad_version", ErrABIVersion, "module speaks ABI v2; this host supports v1"},
		{"no_version", ErrNotWeir, "no weir_abi_v1 export"},
		{"missing_export", ErrExports, "missing required export weir_open"},
		{"wrong_signature", ErrExports, "weir_alloc has signature (i32) -> (i32)"},
		{"unknown_import", ErrImports, "env.system"},
		{"command_module", ErrExports, "_start"},
		{"no_memory_export", ErrExports, `no exported memory named "memory"`},
		{"memory64_or_huge_min", ErrMemoryLimit, "minimum of 512 MiB"},
		{"table_bomb", ErrMemoryLimit, "the tables may hold 400000000 elements, over the limit of 1048576"},
	}
	rt, _, _ := newTestRuntime(t, nil)
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			_, err := rt.Load(context.Background(), tc.file, readTestdata(t, "hostile/"+tc.file+".wasm"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("error %q does not name the module and %q", err, tc.msg)
			}
		})
	}
	t.Run("not_wasm", func(t *testing.T) {
		for _, bin := range [][]byte{nil, []byte("PK\x03\x04 a zip file"), []byte("\x00asm\x01\x00\x00\x00\xff\xff")} {
			if _, err := rt.Load(context.Background(), "junk", bin); !errors.Is(err, ErrNotWasm) {
				t.Fatalf("%q: got %v", bin, err)
			}
		}
	})
}

// TestHostileCalls: modules that misbehave while running. Each failure must
// name the module, the export and the cause; the instance is discarded
// (except after a clean guest error) and the host keeps working.
func TestHostileCalls(t *testing.T) {
	cases := []struct {
		file   string
		params string
		want   error
		msg    string
		keep   bool // the instance survives
		budget time.Duration
	}{
		{"trap", "", ErrTrap, "unreachable", false, 0},
		{"oob_pointer", "", ErrBadOutput, "outside memory", false, 0},
		{"lying_lengths", "", ErrBadOutput, "outside memory", false, 0},
		{"bad_offsets", "decreasing", ErrBadOutput, "offsets decrease", false, 0},
		{"bad_offsets", "past_end", ErrBadOutput, "outside memory", false, 0},
		{"bad_offsets", "negative", ErrBadOutput, "offsets run from -8", false, 0},
		{"memory_bomb", "", ErrMemoryLimit, "limit of 64 MiB", false, 0},
		{"memory_creep", "", ErrMemoryLimit, "limit of 64 MiB", false, 20 * time.Second},
		{"recursion", "", ErrTrap, "stack", false, 20 * time.Second},
		{"infinite_loop", "", ErrTimeBudget, "300ms", false, 0},
		{"stdout_flood", "", ErrOutputFlood, "more than 65536 bytes of output in one call", false, 0},
		{"proc_exit", "", ErrExit, "fatal: giving up", false, 0},
		{"error_status", "", ErrGuest, "boom: bad record 42", true, 0},
		{"table_grow", "", ErrGuest, "table.grow refused", true, 0},
	}
	for _, mode := range []string{"flag", "context"} {
		for _, tc := range cases {
			t.Run(mode+"/"+tc.file+"/"+tc.params, func(t *testing.T) {
				ctx := context.Background()
				rt, alloc, _ := newTestRuntime(t, func(c *Config) {
					c.Interrupt = mode
					c.CallBudget = 300 * time.Millisecond
					if tc.budget > 0 {
						c.CallBudget = tc.budget
					}
					c.MemoryLimit = 64 << 20
					c.OutputBudget = 64 << 10
				})
				defer alloc.AssertSize(t, 0)
				in := instantiate(t, rt, "hostile/"+tc.file+".wasm", InstanceOptions{Job: "job", Task: "task"})
				rec := int64Batch(alloc, "x", []int64{1, 2, 3}, nil)
				defer rec.Release()
				op := open(t, in, abi.KindFlatMap, "hostile", tc.params, rec.Schema())
				start := time.Now()
				out, err := op.Map(ctx, rec)
				if err == nil {
					out.Release()
					t.Fatal("the call succeeded")
				}
				if took := time.Since(start); took > 5*time.Second+tc.budget {
					t.Fatalf("failing took %s", took)
				}
				var ce *CallError
				if !errors.As(err, &ce) || !errors.Is(err, tc.want) {
					t.Fatalf("got %T %v, want %v", err, err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), "weir_map (hostile)") {
					t.Fatalf("error %q does not name the module, export, function and %q", err, tc.msg)
				}
				// An interrupted call is reported as such, not as the trap the
				// interrupt causes in flag mode.
				if (errors.Is(err, ErrTimeBudget) || errors.Is(err, ErrOutputFlood)) && strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("error %q blames the guest for the host's interrupt", err)
				}
				if ce.Fatal() == tc.keep {
					t.Fatalf("Fatal() = %v", ce.Fatal())
				}
				// The instance is usable after a guest error and refused after
				// anything else.
				out, err = op.Map(ctx, rec)
				if tc.keep {
					if !errors.Is(err, ErrGuest) {
						t.Fatalf("second call: %v", err)
					}
				} else if !errors.Is(err, ErrClosed) {
					if out != nil {
						out.Release()
					}
					t.Fatalf("second call on a discarded instance: %v", err)
				}
				// The host keeps working: a fresh instance of a good module runs.
				assertHealthy(t, rt, alloc)
			})
		}
	}
}

func assertHealthy(t *testing.T, rt *Runtime, alloc memory.Allocator) {
	t.Helper()
	ctx := context.Background()
	in := instantiate(t, rt, "minimal.wasm", InstanceOptions{})
	rec := int64Batch(alloc, "x", []int64{41}, nil)
	defer rec.Release()
	out, err := open(t, in, abi.KindMap, "add_one_i64", "", rec.Schema()).Map(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if got := out.Column(0).ValueStr(0); got != "42" {
		t.Fatalf("healthy module computed %s", got)
	}
}

func TestHostilePlans(t *testing.T) {
	ctx := context.Background()
	rt, _, _ := newTestRuntime(t, func(c *Config) { c.CallBudget = 200 * time.Millisecond })
	t.Run("plan_loop", func(t *testing.T) {
		in := instantiate(t, rt, "hostile/plan_loop.wasm", InstanceOptions{})
		if _, err := in.Plan(ctx, nil); !errors.Is(err, ErrTimeBudget) || !strings.Contains(err.Error(), "weir_plan") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("plan_garbage", func(t *testing.T) {
		in := instantiate(t, rt, "hostile/plan_garbage.wasm", InstanceOptions{})
		raw, err := in.Plan(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := abi.DecodePlan(raw); !errors.Is(err, abi.ErrInvalidPlan) {
			t.Fatalf("got %v", err)
		}
	})
}

// TestSandboxRefusesFilesAndSockets: the WASI sandbox has no preopened
// directories or sockets, so path_open and the sock_* calls fail and the
// module reports a normal result: y is 0 after wasi_fs, and after wasi_sock
// the OR of every errno it got, EBADF (8) alone.
func TestSandboxRefusesFilesAndSockets(t *testing.T) {
	for _, tc := range []struct {
		file string
		want int64
	}{
		{"wasi_fs", 0},
		{"wasi_sock", 8},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ctx := context.Background()
			rt, alloc, _ := newTestRuntime(t, nil)
			defer alloc.AssertSize(t, 0)
			in := instantiate(t, rt, "hostile/"+tc.file+".wasm", InstanceOptions{})
			rec := int64Batch(alloc, "x", []int64{1, 2, 3}, nil)
			defer rec.Release()
			out, err := open(t, in, abi.KindFlatMap, "hostile", "", rec.Schema()).Map(ctx, rec)
			if err != nil {
				t.Fatalf("the sandbox let the guest reach the host: %v", err)
			}
			defer out.Release()
			if out.NumRows() != 3 {
				t.Fatalf("%d rows, want 3", out.NumRows())
			}
			for i := range 3 {
				if got := out.Column(0).(*array.Int64).Value(i); got != tc.want {
					t.Fatalf("y[%d] = %d, want %d", i, got, tc.want)
				}
			}
		})
	}
}

// TestInterruptFreesThread: an interrupted infinite loop must not keep a
// goroutine (and an OS thread) spinning after the call returns.
func TestInterruptFreesThread(t *testing.T) {
	ctx := context.Background()
	rt, alloc, _ := newTestRuntime(t, func(c *Config) { c.CallBudget = 100 * time.Millisecond })
	mod, err := rt.Load(ctx, "infinite_loop", readTestdata(t, "hostile/infinite_loop.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	rec := int64Batch(alloc, "x", []int64{1}, nil)
	defer rec.Release()
	before := runtime.NumGoroutine()
	for range 5 {
		in, err := mod.Instantiate(ctx, InstanceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		op, err := in.Open(ctx, abi.KindMap, "hostile", "", rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.Map(ctx, rec); !errors.Is(err, ErrTimeBudget) {
			t.Fatalf("got %v", err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+1 {
		t.Fatalf("%d goroutines before, %d after", before, after)
	}
}

// TestCallerCancel: canceling the caller's context interrupts a running call.
func TestCallerCancel(t *testing.T) {
	rt, alloc, _ := newTestRuntime(t, func(c *Config) { c.CallBudget = time.Minute })
	in := instantiate(t, rt, "hostile/infinite_loop.wasm", InstanceOptions{})
	rec := int64Batch(alloc, "x", []int64{1}, nil)
	defer rec.Release()
	op := open(t, in, abi.KindMap, "hostile", "", rec.Schema())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := op.Map(ctx, rec); !errors.Is(err, ErrCanceled) {
		t.Fatalf("got %v", err)
	}
}
