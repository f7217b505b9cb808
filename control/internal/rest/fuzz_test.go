package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/weirflow/weir/control/internal/artifact"
	"github.com/weirflow/weir/control/internal/dispatcher"
)

// FuzzRequestBodies feeds the JSON request decoders (runs, savepoints,
// stops) anything: they decode or refuse with a 4xx, never panic.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"parallelism":2,"programArgs":["--input","/x"],"config":{"a":"b"}}`,
		`{"savepointPath":"/s","allowNonRestoredState":true}`, `{"target-directory":"/t","cancel-job":true}`,
		`{"targetDirectory":"/t","drain":false}`, `{"parallelism":`, `{"parallelism":1e400}`, `[1,2]`,
		`{"programArgs":[null]}`, `{"config":{"k":1}}`, `{} {}`, "\xff\xfe", `{"parallelsim":2}`,
	} {
		f.Add([]byte(s))
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&dispatcher.RunRequest{}, &savepointRequest{}, &stopRequest{}} {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			err := decodeBody(e.NewContext(req, httptest.NewRecorder()), v, "fields")
			var he *echo.HTTPError
			if err != nil && (!errors.As(err, &he) || he.Code < 400 || he.Code > 499) {
				t.Fatalf("%T: %v is not a 4xx", v, err)
			}
		}
	})
}

// FuzzWatch feeds GET /events' watch paths to their check.
func FuzzWatch(f *testing.F) {
	for _, s := range []string{"/jobs", "/jobs/abc", "/jobs/abc/checkpoints/details/3", "/events", "/", "jobs",
		"//x", "/jobs/%zz", "http://evil/jobs", "/../jobs", "/jobs?x=1", "/wasm/x/module", "\x00"} {
		f.Add(s)
	}
	store, err := artifact.Open(f.TempDir(), 0, 0)
	if err != nil {
		f.Fatal(err)
	}
	s := New(Config{Artifacts: store, Jobs: dispatcher.New(dispatcher.Config{}), Cluster: fakeCluster{}})
	f.Fuzz(func(t *testing.T, p string) {
		_ = s.watchRoute(p)
	})
}

// FuzzUpload posts anything as a multipart upload: the answer is JSON, 200
// only for a valid module, never 5xx, and the store holds nothing but
// content-addressed files.
func FuzzUpload(f *testing.F) {
	for _, seed := range []struct {
		name string
		body []byte
	}{
		{"minimal.wasm", testdata(f, "minimal.wasm")},
		{"../../etc/passwd", []byte("\x00asm\x01\x00\x00\x00")},
		{"a\x00b.wasm", []byte("not wasm")},
		{"%2e%2e%2f.wasm", nil},
	} {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		_ = w.SetBoundary("weirfuzzboundary")
		part, _ := w.CreateFormFile("wasmfile", seed.name)
		_, _ = part.Write(seed.body)
		_ = w.Close()
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()/2]) // truncated
	}
	cfg, dir := testConfig(f, 1<<20)
	cfg.SubmitRate = -1
	h := New(cfg).Handler()
	stored := regexp.MustCompile(`^[0-9a-f]{64}\.(wasm|json)$`)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/wasm/upload", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=weirfuzzboundary")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, body %q", rec.Code, rec.Body)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !stored.MatchString(e.Name()) {
				t.Fatalf("the store holds %q", e.Name())
			}
		}
	})
}
