package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const file = `# tokens of the test cluster
viewer-token-0123456789 viewer

submitter-token-0123456789 submitter
`

func TestParse(t *testing.T) {
	cases := []struct {
		name, file, msg string
	}{
		{"good", file, ""},
		{"unknown role", "abcdefghijklmnopqrstuvwxyz admin\n", `line 1: auth: bad token file: unknown role "admin"`},
		{"short token", "short viewer\n", "line 1: a token needs at least 16"},
		{"three fields", "abcdefghijklmnopqrstuvwxyz viewer extra\n", "line 1: want TOKEN ROLE"},
		{"duplicate", "abcdefghijklmnopqrstuvwxyz viewer\nabcdefghijklmnopqrstuvwxyz submitter\n", "line 2: the token is listed twice"},
		{"empty", "# nothing\n\n", "no tokens"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.file))
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrTokenFile) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	tokens, err := Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	h := tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	cases := []struct {
		method, path, header string
		want                 int
	}{
		{"GET", "/health", "", http.StatusTeapot},
		{"GET", "/jobs/overview", "", http.StatusUnauthorized},
		{"GET", "/", "", http.StatusTeapot}, // the dashboard's login page
		{"GET", "/assets/index-abc.js", "", http.StatusTeapot},
		{"GET", "/assets/../jobs/overview", "", http.StatusUnauthorized},
		{"GET", "/assets/x/../../jobs", "", http.StatusUnauthorized},
		{"POST", "/", "", http.StatusUnauthorized},
		{"GET", "/events?access_token=viewer-token-0123456789", "", http.StatusTeapot},
		{"GET", "/events?access_token=wrong-token-0123456789", "", http.StatusUnauthorized},
		{"GET", "/jobs?access_token=viewer-token-0123456789", "", http.StatusUnauthorized}, // only the stream takes it
		{"POST", "/events?access_token=submitter-token-0123456789", "", http.StatusUnauthorized},
		{"GET", "/jobs/overview", "Bearer wrong-token-0123456789", http.StatusUnauthorized},
		{"GET", "/jobs/overview", "viewer-token-0123456789", http.StatusUnauthorized}, // no scheme
		{"GET", "/jobs/overview", "Bearer viewer-token-0123456789", http.StatusTeapot},
		{"GET", "/jobs/overview", "Bearer viewer-token-012345678", http.StatusUnauthorized}, // a prefix
		{"POST", "/wasm/upload", "Bearer viewer-token-0123456789", http.StatusForbidden},
		{"PATCH", "/jobs/x", "Bearer viewer-token-0123456789", http.StatusForbidden},
		{"POST", "/wasm/upload", "Bearer submitter-token-0123456789", http.StatusTeapot},
		{"GET", "/jobs/overview", "Bearer submitter-token-0123456789", http.StatusTeapot},
		{"POST", "/health", "", http.StatusTeapot},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path+" "+tc.header, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if tc.want == http.StatusUnauthorized || tc.want == http.StatusForbidden {
				var body struct{ Errors []string }
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
					t.Fatalf("body %q: %v", rec.Body, err)
				}
				if strings.Contains(body.Errors[0], "0123456789") {
					t.Fatalf("the error shows a token: %s", body.Errors[0])
				}
			}
			if tc.want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate on a 401")
			}
		})
	}
}

func TestRoleOf(t *testing.T) {
	tokens, err := Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var got Role
	var on bool
	h := tokens.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, on = RoleOf(r) }))
	for _, tc := range []struct {
		path, header string
		want         Role
	}{
		{"/whoami", "Bearer viewer-token-0123456789", Viewer},
		{"/whoami", "Bearer submitter-token-0123456789", Submitter},
		{"/health", "", None},
		{"/health", "Bearer wrong-token-0123456789", None},
		{"/health", "Bearer submitter-token-0123456789", Submitter},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		got, on = None, false
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !on || got != tc.want {
			t.Errorf("%s %q: role %v (through the middleware: %v), want %v", tc.path, tc.header, got, on, tc.want)
		}
	}
	if _, ok := RoleOf(httptest.NewRequest("GET", "/whoami", nil)); ok {
		t.Error("a request that did not pass the middleware has a role")
	}
}
