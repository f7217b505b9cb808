package rest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Live updates: GET /events?watch=PATH&watch=PATH streams, as server-sent
// events, the answers of the API's own GET paths whenever they change. The
// dashboard watches the pages it shows; curl -N watches anything. It is the
// same API delivered by push, so there is nothing only the dashboard reads.

const (
	// maxWatches bounds the paths of one stream.
	maxWatches = 32
	// keepAlive is how often an idle stream sends a comment, so proxies
	// and browsers keep it open.
	keepAlive = 15 * time.Second
)

// noWatch are routes a stream cannot watch: itself, and bodies that are
// not JSON.
var noWatch = map[string]bool{"/": true, "/assets/*": true, "/events": true, "/wasm/:id/module": true, "/metrics": true}

// update is one event's data.
type update struct {
	Path   string          `json:"path"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// watchRoute checks that p is a GET path of this API a stream may watch.
func (s *Server) watchRoute(p string) error {
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || u.IsAbs() {
		return fmt.Errorf("watch %q: not a path of this API (it must start with /)", p)
	}
	c := s.e.NewContext(nil, nil)
	s.e.Router().Find(http.MethodGet, u.Path, c)
	if route := c.Path(); !s.getRoute(route) || noWatch[route] {
		return fmt.Errorf("watch %q: not a GET path of this API that can be watched", p)
	}
	return nil
}

// getRoute reports whether route is a GET route of the API.
func (s *Server) getRoute(route string) bool {
	for _, r := range s.e.Routes() {
		if r.Method == http.MethodGet && r.Path == route {
			return true
		}
	}
	return false
}

// events is GET /events.
func (s *Server) events(c echo.Context) error {
	paths := c.QueryParams()["watch"]
	if len(paths) == 0 {
		return badRequest(fmt.Errorf("name at least one path to watch: /events?watch=/overview&watch=/jobs/overview"))
	}
	if len(paths) > maxWatches {
		return badRequest(fmt.Errorf("%d paths to watch; at most %d", len(paths), maxWatches))
	}
	for _, p := range paths {
		if err := s.watchRoute(p); err != nil {
			return badRequest(err)
		}
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The browser reconnects after this long if the stream ends (a failover).
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	w.Flush()

	ctx := c.Request().Context()
	last := make([][]byte, len(paths))
	tick := time.NewTicker(s.eventInterval)
	defer tick.Stop()
	idle := time.Now()
	for {
		sent := false
		for i, p := range paths {
			status, body := s.get(c.Request(), p)
			if bytes.Equal(body, last[i]) {
				continue
			}
			last[i] = body
			data, err := json.Marshal(update{Path: p, Status: status, Body: body})
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", data); err != nil {
				return nil // the client went away
			}
			sent = true
		}
		if !sent && time.Since(idle) >= keepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			sent = true
		}
		if sent {
			idle = time.Now()
			w.Flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil // this term's API ends; the client reconnects to the next
		case <-tick.C:
		}
	}
}

// get answers GET p through this API's own handlers, as a client would see
// it (with the original request's headers, so whatever authorises the
// stream authorises each path). A body that is not JSON is sent as a JSON
// string.
func (s *Server) get(orig *http.Request, p string) (int, []byte) {
	req, err := http.NewRequestWithContext(orig.Context(), http.MethodGet, p, nil)
	if err != nil {
		return http.StatusBadRequest, nil
	}
	req.Header = orig.Header.Clone()
	req.Header.Del("Accept-Encoding")
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	s.e.ServeHTTP(rec, req)
	body := bytes.TrimSpace(rec.body.Bytes())
	if !json.Valid(body) {
		body, _ = json.Marshal(string(body))
	}
	return rec.status, body
}

// recorder is an in-memory http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
