package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/wasm"
)

// limitsLog is a log destination that tests may read while a TaskManager
// writes to it.
type limitsLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *limitsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *limitsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestGuestLimitsValidated: limits the wasm runtime cannot honour are
// refused by NewTaskManager with an error naming the limit.
func TestGuestLimitsValidated(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"defaults", Config{}, ""},
		{"smallest memory", Config{GuestMemory: 64 << 10}, ""},
		{"largest memory", Config{GuestMemory: 4 << 30}, ""},
		{"memory below a page", Config{GuestMemory: 1000}, "guest memory limit 1000 bytes is outside"},
		{"memory past 4 GiB", Config{GuestMemory: 4<<30 + 1}, "guest memory limit 4294967297 bytes is outside"},
		{"negative budget", Config{CallBudget: -time.Second}, "guest call budget -1s is negative"},
		{"negative output", Config{GuestOutput: -1}, "guest output budget -1 bytes is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.EtcdEndpoints, tc.cfg.DataAddr = []string{"http://127.0.0.1:1"}, "127.0.0.1:0"
			tm, err := NewTaskManager(tc.cfg)
			if err == nil {
				tm.lis.Close()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// runTaskManager runs a TaskManager (its etcd unreachable: it never
// registers) until the test ends and returns it once its wasm runtime is
// up, with its log.
func runTaskManager(t *testing.T, cfg Config) (*TaskManager, *limitsLog) {
	t.Helper()
	logs := &limitsLog{}
	cfg.EtcdEndpoints, cfg.DataAddr, cfg.DataDir = []string{"http://127.0.0.1:1"}, "127.0.0.1:0", t.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	tm, err := NewTaskManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("the TaskManager did not stop")
		}
	})
	// Run logs "TaskManager serving" after it set tm.rt (the log's mutex
	// orders the two).
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "TaskManager serving") {
		select {
		case err := <-done:
			t.Fatalf("Run: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the TaskManager does not serve:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tm, logs
}

// TestGuestLimitsReachTheRuntime: the limits of Config are the TaskManager's
// wasm runtime's (0 keeps the wasm defaults), its log says them, and guests
// past them fail with the limit's error.
func TestGuestLimitsReachTheRuntime(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		tm, logs := runTaskManager(t, Config{})
		got := tm.rt.Config()
		if got.MemoryLimit != wasm.DefaultMemoryLimit || got.CallBudget != wasm.DefaultCallBudget || got.OutputBudget != wasm.DefaultOutputBudget {
			t.Errorf("runtime limits %d bytes, %s, %d bytes, want the wasm defaults", got.MemoryLimit, got.CallBudget, got.OutputBudget)
		}
		if want := "guest_memory=268435456 call_budget=10s guest_output=1048576"; !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
	})

	tm, logs := runTaskManager(t, Config{GuestMemory: 1 << 20, CallBudget: 200 * time.Millisecond, GuestOutput: 4096})
	if want := "guest_memory=1048576 call_budget=200ms guest_output=4096"; !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, logs)
	}
	alloc := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	rec := b.NewRecord()
	defer rec.Release()
	for _, tc := range []struct {
		module string
		want   error
		msg    string
	}{
		{"memory_creep", wasm.ErrMemoryLimit, "memory.grow past the limit of 1 MiB was refused"},
		{"infinite_loop", wasm.ErrTimeBudget, "exceeded time budget of 200ms"},
		{"stdout_flood", wasm.ErrOutputFlood, "more than 4096 bytes of output in one call"},
	} {
		t.Run(tc.module, func(t *testing.T) {
			ctx := context.Background()
			bin, err := os.ReadFile(filepath.Join("..", "wasm", "testdata", "hostile", tc.module+".wasm"))
			if err != nil {
				t.Fatal(err)
			}
			mod, err := tm.rt.Load(ctx, tc.module, bin)
			if err != nil {
				t.Fatal(err)
			}
			in, err := mod.Instantiate(ctx, wasm.InstanceOptions{Job: "job", Task: "task"})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close(ctx)
			op, err := in.Open(ctx, abi.KindMap, "hostile", "", schema)
			if err != nil {
				t.Fatal(err)
			}
			out, err := op.Map(ctx, rec)
			if err == nil {
				out.Release()
				t.Fatal("the call succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.want, tc.msg)
			}
		})
	}
}
