// Package restart holds the restart strategies of a failing job, as Flink's
// (restart-strategy.* keys): exponential-delay (the default), fixed-delay and
// none. A strategy only decides; the JobMaster acts. Time and randomness are
// passed in, so every decision is reproducible.
package restart

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("restart: bad configuration")

// Strategy decides whether and when a failed job restarts.
type Strategy interface {
	// OnFailure records a failure at now and returns the delay before the
	// restart, or ok=false when the job must fail for good.
	OnFailure(now time.Time) (delay time.Duration, ok bool)
	// String describes the strategy for the job's configuration view.
	String() string
}

// Configuration keys and Weir's defaults (faster than Flink's: Weir aims at
// failover in seconds).
const (
	KeyType = "restart-strategy.type"

	KeyFixedAttempts = "restart-strategy.fixed-delay.attempts"
	KeyFixedDelay    = "restart-strategy.fixed-delay.delay"

	KeyExpInitial    = "restart-strategy.exponential-delay.initial-backoff"
	KeyExpMax        = "restart-strategy.exponential-delay.max-backoff"
	KeyExpMultiplier = "restart-strategy.exponential-delay.backoff-multiplier"
	KeyExpReset      = "restart-strategy.exponential-delay.reset-backoff-threshold"
	KeyExpJitter     = "restart-strategy.exponential-delay.jitter-factor"
	KeyExpAttempts   = "restart-strategy.exponential-delay.attempts-before-reset-backoff"
)

// Parse returns the strategy a configuration asks for. rnd returns numbers
// in [0, 1) for jitter (nil: no jitter).
func Parse(conf map[string]string, rnd func() float64) (Strategy, error) {
	p := parser{conf: conf}
	var s Strategy
	switch t := p.str(KeyType, "exponential-delay"); t {
	case "none", "disable", "off":
		s = None{}
	case "fixed-delay", "fixeddelay":
		s = &FixedDelay{Attempts: p.int(KeyFixedAttempts, 3), Delay: p.dur(KeyFixedDelay, time.Second)}
	case "exponential-delay", "exponentialdelay":
		e := &ExponentialDelay{
			Initial:    p.dur(KeyExpInitial, 200*time.Millisecond),
			Max:        p.dur(KeyExpMax, 30*time.Second),
			Multiplier: p.float(KeyExpMultiplier, 2),
			Reset:      p.dur(KeyExpReset, 10*time.Minute),
			Jitter:     p.float(KeyExpJitter, 0.1),
			Attempts:   p.int(KeyExpAttempts, math.MaxInt32),
			Rand:       rnd,
		}
		if p.err == nil {
			p.check(e.Initial > 0 && e.Max >= e.Initial, "max-backoff %s must be at least initial-backoff %s > 0", e.Max, e.Initial)
			p.check(e.Multiplier >= 1, "backoff-multiplier %g must be at least 1", e.Multiplier)
			p.check(e.Jitter >= 0 && e.Jitter <= 1, "jitter-factor %g must be within 0..1", e.Jitter)
			p.check(e.Attempts >= 1, "attempts-before-reset-backoff %d must be at least 1", e.Attempts)
		}
		s = e
	default:
		return nil, fmt.Errorf("%w: %s %q (want exponential-delay, fixed-delay or none)", ErrConfig, KeyType, t)
	}
	if fd, ok := s.(*FixedDelay); ok && p.err == nil {
		p.check(fd.Attempts >= 0 && fd.Delay >= 0, "fixed-delay attempts %d and delay %s must not be negative", fd.Attempts, fd.Delay)
	}
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

type parser struct {
	conf map[string]string
	err  error
}

func (p *parser) str(k, def string) string {
	if v, ok := p.conf[k]; ok {
		return v
	}
	return def
}

func (p *parser) fail(k, v, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s=%q is not %s", ErrConfig, k, v, want)
	}
}

func (p *parser) dur(k string, def time.Duration) time.Duration {
	v, ok := p.conf[k]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(k, v, "a duration like 500ms or 2s")
	}
	return d
}

func (p *parser) int(k string, def int) int {
	v, ok := p.conf[k]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(k, v, "an integer")
	}
	return n
}

func (p *parser) float(k string, def float64) float64 {
	v, ok := p.conf[k]
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(k, v, "a number")
	}
	return f
}

func (p *parser) check(ok bool, format string, args ...any) {
	if !ok && p.err == nil {
		p.err = fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
}

// None never restarts.
type None struct{}

// OnFailure implements Strategy.
func (None) OnFailure(time.Time) (time.Duration, bool) { return 0, false }

func (None) String() string { return "none" }

// FixedDelay restarts up to Attempts times, each after Delay.
type FixedDelay struct {
	Attempts int
	Delay    time.Duration
	used     int
}

// OnFailure implements Strategy.
func (f *FixedDelay) OnFailure(time.Time) (time.Duration, bool) {
	if f.used >= f.Attempts {
		return 0, false
	}
	f.used++
	return f.Delay, true
}

func (f *FixedDelay) String() string {
	return fmt.Sprintf("fixed-delay (%d attempts, %s)", f.Attempts, f.Delay)
}

// ExponentialDelay restarts after a backoff that starts at Initial and is
// multiplied by Multiplier on each failure up to Max, with ± Jitter of
// randomness. A job that ran for Reset without failing starts again at
// Initial. After Attempts failures without a reset, the job fails.
type ExponentialDelay struct {
	Initial, Max, Reset time.Duration
	Multiplier, Jitter  float64
	Attempts            int
	Rand                func() float64

	current  time.Duration
	failures int
	last     time.Time
}

// OnFailure implements Strategy.
func (e *ExponentialDelay) OnFailure(now time.Time) (time.Duration, bool) {
	if e.current == 0 || (!e.last.IsZero() && now.Sub(e.last) >= e.Reset) {
		e.current, e.failures = e.Initial, 0
	} else {
		e.current = min(time.Duration(float64(e.current)*e.Multiplier), e.Max)
	}
	e.last = now
	e.failures++
	if e.failures > e.Attempts {
		return 0, false
	}
	d := e.current
	if e.Jitter > 0 && e.Rand != nil {
		d += time.Duration((2*e.Rand() - 1) * e.Jitter * float64(d))
	}
	return max(d, 0), true
}

func (e *ExponentialDelay) String() string {
	return fmt.Sprintf("exponential-delay (initial %s, max %s, multiplier %g, reset after %s, jitter %g)",
		e.Initial, e.Max, e.Multiplier, e.Reset, e.Jitter)
}
