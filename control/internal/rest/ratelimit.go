package rest

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// Defaults of the submission rate limit: per client, DefaultSubmitRate
// requests a second on average and DefaultSubmitBurst at once.
const (
	DefaultSubmitRate  = 10.0
	DefaultSubmitBurst = 50
	// maxClients bounds the clients tracked at once; when it is reached the
	// idle ones (whose buckets are full again) are forgotten.
	maxClients = 4096
)

// limiter is a token bucket per client: its bearer token when it sends one,
// else its IP address.
type limiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	clients map[[sha256.Size]byte]*rate.Limiter
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{every: rate.Limit(perSecond), burst: burst, clients: map[[sha256.Size]byte]*rate.Limiter{}}
}

// clientKey names who sent a request; a token is hashed so the map holds
// no secrets.
func clientKey(r *http.Request) [sha256.Size]byte {
	if a := r.Header.Get("Authorization"); a != "" {
		return sha256.Sum256([]byte("token\x00" + a))
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return sha256.Sum256([]byte("addr\x00" + host))
}

// reserve takes a token of the request's client, or returns how long until
// one is free.
func (l *limiter) reserve(r *http.Request, now time.Time) (ok bool, wait time.Duration) {
	key := clientKey(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[key]
	if lim == nil {
		if len(l.clients) >= maxClients {
			l.forgetIdle(now)
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.clients[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// forgetIdle drops the clients whose buckets are full: forgetting them
// changes nothing. If every client is busy, all are forgotten.
func (l *limiter) forgetIdle(now time.Time) {
	for k, lim := range l.clients {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxClients {
		clear(l.clients)
	}
}

// middleware answers 429 with Retry-After to a client past its rate.
func (l *limiter) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ok, wait := l.reserve(c.Request(), time.Now())
		if !ok {
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
			return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("too many submissions: at most %g a second (bursts of %d) per client; retry in %d s", float64(l.every), l.burst, secs))
		}
		return next(c)
	}
}
