package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/planread"
	"github.com/weirflow/weir/internal/guesttest"
)

func newServer(t *testing.T, maxSize int64) (*httptest.Server, string) {
	t.Helper()
	cfg, dir := testConfig(t, maxSize)
	srv := httptest.NewServer(New(cfg).Handler())
	t.Cleanup(srv.Close)
	return srv, dir
}

// testConfig is the configuration of an API without jobs: an artifact
// store in the returned directory (with an upload limit) and a plan
// reader.
func testConfig(tb testing.TB, maxSize int64) (Config, string) {
	tb.Helper()
	dir := tb.TempDir()
	store, err := artifact.Open(dir, maxSize, 0)
	if err != nil {
		tb.Fatal(err)
	}
	plans, err := planread.New(context.Background(), "", planread.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { plans.Close(context.Background()) })
	return Config{Artifacts: store, Plans: plans, Cluster: fakeCluster{}}, dir
}

func multipartBody(t *testing.T, field, filename string, content []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, err := w.CreateFormFile(field, filename)
	if err != nil {
		t.Fatal(err)
	}
	part.Write(content)
	w.Close()
	return &buf, w.FormDataContentType()
}

// call makes a request and decodes the JSON answer; every answer must be
// JSON, errors included.
func call(t *testing.T, method, url, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: answer is not JSON (%d): %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func errorsOf(body map[string]any) string {
	b, _ := json.Marshal(body["errors"])
	return string(b)
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(guesttest.RepoRoot(t), "wasm", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadListDelete(t *testing.T) {
	srv, dir := newServer(t, 0)
	mod := testdata(t, "minimal.wasm")
	body, ctype := multipartBody(t, "wasmfile", "../../evil/minimal.wasm", mod)
	status, out := call(t, "POST", srv.URL+"/wasm/upload", ctype, body)
	sum := sha256.Sum256(mod)
	id := hex.EncodeToString(sum[:])
	if status != 200 || out["id"] != id || out["filename"] != "minimal.wasm" {
		t.Fatalf("upload: %d %v", status, out)
	}
	if _, err := os.Stat(filepath.Join(dir, id+".wasm")); err != nil {
		t.Fatalf("not stored under its sha256: %v", err)
	}
	status, out = call(t, "GET", srv.URL+"/wasm", "", nil)
	files, _ := out["files"].([]any)
	if status != 200 || len(files) != 1 {
		t.Fatalf("list: %d %v", status, out)
	}
	if status, out = call(t, "DELETE", srv.URL+"/wasm/"+id, "", nil); status != 200 {
		t.Fatalf("delete: %d %v", status, out)
	}
	if status, out = call(t, "DELETE", srv.URL+"/wasm/"+id, "", nil); status != 404 || !strings.Contains(errorsOf(out), "no such artifact") {
		t.Fatalf("delete again: %d %v", status, out)
	}
}

// TestUploadNames: whatever name an upload claims (traversal, encoded,
// double-encoded, absolute, NUL), the module is stored under its sha256
// and the name is only shown, cut to its last element.
func TestUploadNames(t *testing.T) {
	srv, dir := newServer(t, 0)
	mod := testdata(t, "minimal.wasm")
	cases := []struct {
		name, shown string
		status      int
	}{
		{"../../../../etc/cron.d/evil", "evil", 200},
		{"..%2f..%2fetc%2fpasswd", "..%2f..%2fetc%2fpasswd", 200},
		{"..%252f..%252fetc%252fpasswd", "..%252f..%252fetc%252fpasswd", 200},
		{"/etc/passwd", "passwd", 200},
		{"C:\\Windows\\evil.wasm", "evil.wasm", 200},
		{"..", "", 200},
		{"evil\x00.wasm", "", 400}, // a NUL in a MIME header is malformed
	}
	for _, tc := range cases {
		body, ctype := multipartBody(t, "wasmfile", tc.name, mod)
		status, out := call(t, "POST", srv.URL+"/wasm/upload", ctype, body)
		if status != tc.status || (status == 200 && out["filename"] != tc.shown) {
			t.Errorf("%q: %d %v, want %d and the name shown as %q", tc.name, status, out, tc.status, tc.shown)
		}
		if entries, _ := os.ReadDir(dir); (status == 200 && len(entries) != 2) || (status != 200 && len(entries) != 0) {
			t.Fatalf("%q: the store holds %v", tc.name, entries) // <sha256>.wasm and .json
		}
		if status == 200 {
			if status, out = call(t, "DELETE", srv.URL+"/wasm/"+out["id"].(string), "", nil); status != 200 {
				t.Fatalf("delete: %d %v", status, out)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "evil")); err == nil {
		t.Fatal("an upload wrote outside the store")
	}
}

func TestBadInput(t *testing.T) {
	srv, dir := newServer(t, 4096)
	mp := func(field, name string, content []byte) (io.Reader, string) {
		return multipartBody(t, field, name, content)
	}
	notWasm, notWasmType := mp("wasmfile", "x.wasm", []byte("PK\x03\x04 a zip"))
	badVersion, badVersionType := mp("wasmfile", "v2.wasm", testdata(t, "hostile/bad_version.wasm"))
	wrongField, wrongFieldType := mp("jarfile", "m.wasm", testdata(t, "minimal.wasm"))
	big, bigType := mp("wasmfile", "big.wasm", bytes.Repeat([]byte{0}, 8192))
	huge, hugeType := mp("wasmfile", "huge.wasm", bytes.Repeat([]byte{0}, 2<<20))
	// A multipart body cut off in the middle of the module.
	whole, truncType := mp("wasmfile", "cut.wasm", testdata(t, "minimal.wasm"))
	wholeBytes, _ := io.ReadAll(whole)
	truncated := bytes.NewReader(wholeBytes[:len(wholeBytes)/2])
	cases := []struct {
		name, method, path, ctype string
		body                      io.Reader
		status                    int
		msg                       string
	}{
		{"not wasm", "POST", "/wasm/upload", notWasmType, notWasm, 400, "not a valid Weir module"},
		{"other ABI version", "POST", "/wasm/upload", badVersionType, badVersion, 400, "ABI v2"},
		{"wrong field", "POST", "/wasm/upload", wrongFieldType, wrongField, 400, "wasmfile"},
		{"not multipart", "POST", "/wasm/upload", "application/json", strings.NewReader(`{"a":1}`), 400, "wasmfile"},
		{"over the store limit", "POST", "/wasm/upload", bigType, big, 413, "size limit"},
		{"over the body limit", "POST", "/wasm/upload", hugeType, huge, 413, "exceeds"},
		{"malformed id", "DELETE", "/wasm/abc", "", nil, 400, "malformed artifact id"},
		{"truncated multipart", "POST", "/wasm/upload", truncType, truncated, 400, "wasmfile"},
		{"encoded traversal id", "DELETE", "/wasm/..%2f..%2fetc%2fpasswd", "", nil, 400, "malformed artifact id"},
		{"double-encoded traversal id", "DELETE", "/wasm/..%252f..%252fetc%252fpasswd", "", nil, 400, "malformed artifact id"},
		{"absolute path id", "GET", "/wasm/%2Fetc%2Fpasswd/module", "", nil, 400, "malformed artifact id"},
		{"NUL in id", "GET", "/wasm/" + strings.Repeat("0", 63) + "%00/module", "", nil, 400, "malformed artifact id"},
		{"dot-dot id", "GET", "/wasm/../module", "", nil, 400, "malformed artifact id"},
		{"unknown id", "DELETE", "/wasm/" + strings.Repeat("0", 64), "", nil, 404, "no such artifact"},
		{"unknown path", "GET", "/nope", "", nil, 404, "Not Found"},
		{"wrong method", "PUT", "/wasm", "", nil, 405, "Method Not Allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := call(t, tc.method, srv.URL+tc.path, tc.ctype, tc.body)
			if status != tc.status || !strings.Contains(errorsOf(out), tc.msg) {
				t.Fatalf("got %d %v, want %d with %q", status, out, tc.status, tc.msg)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused uploads left files: %v", entries)
	}
}

func TestConfigAndOverview(t *testing.T) {
	srv, _ := newServer(t, 0)
	status, out := call(t, "GET", srv.URL+"/config", "", nil)
	if status != 200 || out["weir-version"] != Version || out["max-upload-bytes"].(float64) != artifact.DefaultMaxSize {
		t.Fatalf("config: %d %v", status, out)
	}
	if status, out = call(t, "GET", srv.URL+"/overview", "", nil); status != 200 || out["weir-version"] != Version {
		t.Fatalf("overview: %d %v", status, out)
	}
}

func TestLimits(t *testing.T) {
	cfg, _ := testConfig(t, 0)
	cfg.MaxRequestBytes, cfg.SubmitRate, cfg.SubmitBurst = 1024, 0.5, 2
	srv := httptest.NewServer(New(cfg).Handler())
	t.Cleanup(srv.Close)

	// Bodies but uploads' are bounded by MaxRequestBytes; the upload's own
	// limit is the module size.
	big := `{"programArgs":["` + strings.Repeat("x", 2048) + `"]}`
	if status, out := call(t, "POST", srv.URL+"/cluster/leader/resign", "application/json", strings.NewReader(big)); status != 413 || !strings.Contains(errorsOf(out), "limit of 1024") {
		t.Fatalf("a 2 KiB JSON body: %d %v", status, out)
	}
	// Submissions: a burst of 2, then 429 with Retry-After, per client.
	for i := range 3 {
		body, ctype := multipartBody(t, "wasmfile", "x.wasm", []byte("not wasm, but still counted"))
		req, _ := http.NewRequest("POST", srv.URL+"/wasm/upload", body)
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 400
		if i == 2 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("upload %d: %d %s, want %d", i, resp.StatusCode, msg, want)
		}
		if want == 429 && (resp.Header.Get("Retry-After") == "" || !strings.Contains(string(msg), "too many submissions")) {
			t.Fatalf("429 without Retry-After or message: %v %s", resp.Header, msg)
		}
	}
	// Reads are not limited.
	for range 5 {
		if status, out := call(t, "GET", srv.URL+"/wasm", "", nil); status != 200 {
			t.Fatalf("list: %d %v", status, out)
		}
	}
}

func TestLimiterClients(t *testing.T) {
	l := newLimiter(1, 1)
	now := time.Unix(1700000000, 0)
	req := func(token, addr string) *http.Request {
		r := httptest.NewRequest("POST", "/wasm/upload", nil)
		r.RemoteAddr = addr
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r
	}
	steps := []struct {
		token, addr string
		after       time.Duration
		ok          bool
	}{
		{"", "127.0.0.1:1000", 0, true},
		{"", "127.0.0.1:1001", 0, false}, // the same address, another port
		{"", "127.0.0.2:1000", 0, true},  // another address
		{"tok-a", "127.0.0.1:1000", 0, true},
		{"tok-a", "127.0.0.9:1000", 0, false}, // the same token elsewhere
		{"tok-b", "127.0.0.1:1000", 0, true},
		{"", "127.0.0.1:1000", time.Second, true}, // refilled
	}
	for i, s := range steps {
		now = now.Add(s.after)
		ok, wait := l.reserve(req(s.token, s.addr), now)
		if ok != s.ok || (!ok && wait <= 0) {
			t.Fatalf("step %d: ok=%v wait=%v, want ok=%v", i, ok, wait, s.ok)
		}
	}
	// The map of clients stays bounded.
	for i := range 2 * maxClients {
		l.reserve(req("", fmt.Sprintf("10.0.%d.%d:1", i/256, i%256)), now)
	}
	if n := len(l.clients); n > maxClients {
		t.Fatalf("%d clients tracked, more than %d", n, maxClients)
	}
}

// The leader answers GET /cluster/leader for a request a standby passed on
// (a dashboard's live stream through the standby) naming the standby as
// the client's server, with the configured scheme.
func TestClusterLeaderThroughStandby(t *testing.T) {
	cfg, _ := testConfig(t, 0)
	cfg.Scheme = "https"
	h := New(cfg).Handler()
	for _, tc := range []struct{ by, self string }{{"", "jm-a"}, {"jm-b", "jm-b"}} {
		req := httptest.NewRequest("GET", "/cluster/leader", nil)
		if tc.by != "" {
			req.Header.Set(ForwardedHeader, tc.by)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got struct {
			Self   string
			Leader struct{ RestAddress string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Self != tc.self || got.Leader.RestAddress != "https://127.0.0.1:1" {
			t.Fatalf("forwarded by %q: %d %s", tc.by, rec.Code, rec.Body)
		}
	}
}
