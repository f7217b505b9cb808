package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirflow/weir/internal/guesttest"
	"github.com/weirflow/weir/wasm"
)

// The tasks of a job deployed together load its module once: they wait for
// one download instead of racing on the cache (a reader of a half-written
// cache file used to fail its task), and a corrupt cache is not trusted.
func TestModuleLoadsOnceForConcurrentTasks(t *testing.T) {
	ctx := context.Background()
	bin, err := os.ReadFile(filepath.Join(guesttest.RepoRoot(t), "wasm", "testdata", "minimal.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	id := hex.EncodeToString(sum[:])
	var downloads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downloads.Add(1)
		time.Sleep(50 * time.Millisecond) // let every task ask while it downloads
		_, _ = w.Write(bin)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name          string
		cache         []byte // written to the cache first (nil: none)
		wantDownloads int32
	}{
		{"empty cache", nil, 1},
		{"corrupt cache", []byte("not the module"), 1},
		{"good cache", bin, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			downloads.Store(0)
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
				t.Fatal(err)
			}
			cache := filepath.Join(dir, "artifacts", id+".wasm")
			if tc.cache != nil {
				if err := os.WriteFile(cache, tc.cache, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tm, err := NewTaskManager(Config{EtcdEndpoints: []string{"http://127.0.0.1:1"}, DataAddr: "127.0.0.1:0", DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer tm.lis.Close()
			if tm.rt, err = wasm.NewRuntime(ctx, wasm.Config{}); err != nil {
				t.Fatal(err)
			}
			defer tm.rt.Close(ctx)

			const tasks = 16
			mods := make([]*wasm.Module, tasks)
			errs := make([]error, tasks)
			var wg sync.WaitGroup
			for i := range tasks {
				wg.Go(func() { mods[i], errs[i] = tm.module(ctx, id, srv.URL+"/wasm/"+id+"/module") })
			}
			wg.Wait()
			for i := range tasks {
				if errs[i] != nil || mods[i] == nil || mods[i] != mods[0] {
					t.Fatalf("task %d: %p %v (task 0: %p)", i, mods[i], errs[i], mods[0])
				}
			}
			if n := downloads.Load(); n != tc.wantDownloads {
				t.Errorf("%d downloads, want %d", n, tc.wantDownloads)
			}
			if got, err := os.ReadFile(cache); err != nil || string(got) != string(bin) {
				t.Errorf("cache holds %d bytes (%v), want the module", len(got), err)
			}
		})
	}
}
