// Package ui serves the web dashboard: the Vite build in ui/dist, embedded
// into the weir binary. `go tool task build` builds it (npm ci, vite build)
// before the binary; a binary built without it serves a page that says so.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// notBuilt is served at / when the binary was built without the dashboard.
const notBuilt = `<!doctype html><html><head><meta charset="utf-8"><title>Weir</title></head>
<body><h1>Weir</h1><p>This weir binary was built without its dashboard: build it with
<code>go tool task build</code>. The REST API answers meanwhile, for example
<a href="/overview">/overview</a>, <a href="/jobs/overview">/jobs/overview</a> and
<a href="/taskmanagers">/taskmanagers</a>.</p></body></html>`

// Assets is the dashboard's files: index.html and assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path: cannot happen
	}
	return sub
}

// Built reports whether the binary carries a built dashboard.
func Built() bool {
	_, err := fs.Stat(Assets(), "index.html")
	return err == nil
}

// Handler serves index.html at / and the files under /assets/. The
// dashboard routes with the URL fragment (#/jobs/<id>), so the REST API
// keeps every other path. Assets carry content hashes in their names and
// are cached for a year; index.html is revalidated every time.
func Handler() http.Handler { return handler(Assets()) }

func handler(files fs.FS) http.Handler {
	static := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean("/" + r.URL.Path)
		switch {
		case p == "/" || p == "/index.html":
			index, err := fs.ReadFile(files, "index.html")
			if err != nil {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(notBuilt))
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			_, _ = w.Write(index)
		case strings.HasPrefix(p, "/assets/"):
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			r2 := r.Clone(r.Context())
			r2.URL.Path = p
			static.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
