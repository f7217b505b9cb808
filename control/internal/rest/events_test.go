package rest

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/control/internal/artifact"
)

func TestEventsRefusesBadWatches(t *testing.T) {
	srv, _ := newServer(t, 0)
	cases := []struct {
		name, query, want string
	}{
		{"nothing to watch", "", "at least one path"},
		{"unknown path", "watch=/nope", "not a GET path"},
		{"itself", "watch=/events", "not a GET path"},
		{"binary body", "watch=/wasm/abc/module", "not a GET path"},
		{"absolute URL", "watch=" + url.QueryEscape("http://example.com/overview"), "must start with /"},
		{"relative path", "watch=overview", "must start with /"},
		{"POST-only path", "watch=/wasm/upload", "not a GET path"},
		{"too many", strings.Repeat("watch=/overview&", maxWatches+1), "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, "GET", srv.URL+"/events?"+tc.query, "", nil)
			if status != http.StatusBadRequest || !strings.Contains(errorsOf(out), tc.want) {
				t.Fatalf("%d %v, want 400 with %q", status, out, tc.want)
			}
		})
	}
}

// readEvent reads one "update" event of an SSE stream.
func readEvent(t *testing.T, r *bufio.Reader) update {
	t.Helper()
	var u update
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(data), &u); err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			return u
		}
	}
}

func TestEventsStreamChanges(t *testing.T) {
	store, err := artifact.Open(t.TempDir(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	s := New(Config{Artifacts: store, Cluster: fakeCluster{}, Done: done, EventInterval: 20 * time.Millisecond})
	srv := newHTTPServer(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv+"/events?watch=/wasm&watch=/cluster/leader", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	got := map[string]update{}
	for range 2 {
		u := readEvent(t, r)
		got[u.Path] = u
	}
	if u := got["/wasm"]; u.Status != 200 || string(u.Body) != `{"files":[]}` {
		t.Fatalf("/wasm first event %d %s", u.Status, u.Body)
	}
	if u := got["/cluster/leader"]; u.Status != 200 || !strings.Contains(string(u.Body), `"jm-a"`) {
		t.Fatalf("/cluster/leader first event %d %s", u.Status, u.Body)
	}
	// Nothing changed: no event until the store changes, then exactly the
	// changed path.
	if _, err := store.Put(strings.NewReader("\x00asm\x01\x00\x00\x00"), "m.wasm"); err != nil {
		t.Fatal(err)
	}
	u := readEvent(t, r)
	if u.Path != "/wasm" || !strings.Contains(string(u.Body), `"m.wasm"`) {
		t.Fatalf("after a change: %s %s", u.Path, u.Body)
	}
	// The term ends: the stream ends.
	close(done)
	for {
		if _, err := r.ReadString('\n'); err != nil {
			break
		}
	}
}

func newHTTPServer(t *testing.T, s *Server) string {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
