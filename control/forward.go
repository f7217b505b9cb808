package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/weirflow/weir/control/internal/rest"
)

// forwardedHeader marks a request a standby passed on, so that two
// JobManagers with stale views never pass one back and forth (and the
// leader's GET /cluster/leader names the standby as the client's server).
const forwardedHeader = rest.ForwardedHeader

// forwarder passes a standby's REST requests on to the leader; without a
// leader (an election under way) it answers 503 with a JSON error.
func (m *JobManager) forwarder() http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = m.tls.Client
	proxy := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, m.cfg.ID)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			unavailable(w, fmt.Sprintf("the leading JobManager could not be reached: %v", err))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if by := r.Header.Get(forwardedHeader); by != "" {
			unavailable(w, fmt.Sprintf("JobManager %s forwarded this request to %s, which does not lead either: the leadership is changing", by, m.cfg.ID))
			return
		}
		l, ok := m.leaderInfo()
		if !ok {
			unavailable(w, "no JobManager leads right now (an election is under way); retry shortly")
			return
		}
		target := &url.URL{Scheme: m.tls.Scheme(), Host: l.RESTAddress}
		proxy.ServeHTTP(w, r.WithContext(contextWithTarget(r, target)))
	})
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

func statusUnavailable(err error) error { return status.Error(codes.Unavailable, err.Error()) }

type targetKey struct{}

func contextWithTarget(r *http.Request, u *url.URL) context.Context {
	return context.WithValue(r.Context(), targetKey{}, u)
}
