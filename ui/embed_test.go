package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	built := fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>Weir</title>")},
		"assets/index-1.js":  {Data: []byte("console.log(1)")},
		"assets/index-1.css": {Data: []byte("body{}")},
	}
	cases := []struct {
		name   string
		files  fstest.MapFS
		path   string
		status int
		body   string
		ctype  string
		cache  string
	}{
		{"index at /", built, "/", 200, "<title>Weir</title>", "text/html", "no-cache"},
		{"index by name", built, "/index.html", 200, "<title>Weir</title>", "text/html", "no-cache"},
		{"script", built, "/assets/index-1.js", 200, "console.log(1)", "javascript", "immutable"},
		{"style", built, "/assets/index-1.css", 200, "body{}", "text/css", "immutable"},
		{"missing asset", built, "/assets/nope.js", 404, "", "", ""},
		{"traversal stays inside", built, "/assets/../../embed.go", 404, "", "", ""},
		{"other paths are the API's", built, "/jobs", 404, "", "", ""},
		{"not built", fstest.MapFS{}, "/", 200, "built without its dashboard", "text/html", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			handler(tc.files).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("GET %s: %d %q, want %d with %q", tc.path, rec.Code, body, tc.status, tc.body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tc.ctype) {
				t.Errorf("content type %q, want %q", ct, tc.ctype)
			}
			if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, tc.cache) {
				t.Errorf("cache control %q, want %q", cc, tc.cache)
			}
		})
	}
}
