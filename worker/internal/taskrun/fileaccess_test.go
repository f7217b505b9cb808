package taskrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirflow/weir/internal/connector"
	"github.com/weirflow/weir/internal/rpcpb"
	"github.com/weirflow/weir/worker/internal/exchange"
)

// A TaskManager applies the leader's file access policy itself: a task
// whose file source or sink is outside the allowed directories fails
// before reading or writing, even though the JobManager let the job in.
func TestFileAccessAppliedToConnectors(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	for _, dir := range []string{allowed, outside} {
		if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("a\nb\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := connector.FileAccess{AllowDirs: []string{allowed}}
	cases := []struct {
		name      string
		files     connector.FileAccess
		in, out   string
		wantError string // "" runs
	}{
		{"inside", files, filepath.Join(allowed, "in.txt"), filepath.Join(allowed, "out"), ""},
		{"source outside", files, filepath.Join(outside, "in.txt"), filepath.Join(allowed, "out"), `path="` + filepath.Join(outside, "in.txt") + `" is outside the allowed directories`},
		{"sink outside", files, filepath.Join(allowed, "in.txt"), filepath.Join(outside, "out"), `path="` + filepath.Join(outside, "out") + `" is outside the allowed directories`},
		{"no policy", connector.FileAccess{}, filepath.Join(outside, "in.txt"), filepath.Join(outside, "out2"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chain := fmt.Sprintf(`[{"id":"src","kind":"source","connector":"file","params":{"path":%q}},`+
				`{"id":"out","kind":"sink","connector":"file","inputs":["src"],"params":{"path":%q}}]`, tc.in, tc.out)
			d := &rpcpb.TaskDeployment{JobId: "j", ExecutionId: "j/src#0@0", VertexId: "src", Parallelism: 1, MaxParallelism: 128, ChainJson: []byte(chain)}
			task, err := New(&Env{Registry: exchange.NewRegistry(), Files: tc.files}, d)
			if err != nil {
				t.Fatal(err)
			}
			err = task.Run(context.Background(), func() {})
			if tc.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
				if parts, _ := filepath.Glob(filepath.Join(tc.out, "part-*")); len(parts) != 1 {
					t.Fatalf("parts %v", parts)
				}
				return
			}
			if !errors.Is(err, connector.ErrFileAccess) || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("got %v, want %q", err, tc.wantError)
			}
			if _, err := os.Stat(filepath.Join(outside, "out")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused task created %s (%v)", filepath.Join(outside, "out"), err)
			}
		})
	}
}
