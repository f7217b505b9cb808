package connector

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/weirflow/weir/arrow/batch"
)

// params reads a connector's string parameters. Every error it returns
// wraps ErrParams and names the parameter and its value.
type params struct {
	m map[string]string
}

// checkKnown fails on a parameter not in known, so a typo ("rolling-row")
// is refused instead of silently ignored.
func (p params) checkKnown(known ...string) error {
	var unknown []string
	for k := range p.m {
		ok := false
		for _, n := range known {
			if k == n {
				ok = true
				break
			}
		}
		if !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	if len(known) == 0 {
		return fmt.Errorf("%w: unknown parameter %s=%q (takes no parameters)", ErrParams, unknown[0], p.m[unknown[0]])
	}
	known = append([]string(nil), known...)
	sort.Strings(known)
	return fmt.Errorf("%w: unknown parameter %s=%q (known: %s)", ErrParams, unknown[0], p.m[unknown[0]], strings.Join(known, ", "))
}

func (p params) has(name string) bool {
	_, ok := p.m[name]
	return ok
}

func (p params) str(name, def string) string {
	if v, ok := p.m[name]; ok {
		return v
	}
	return def
}

func (p params) bad(name, value, why string) error {
	return fmt.Errorf("%w: parameter %s=%q: %s", ErrParams, name, value, why)
}

// int64In reads an integer in [lo, hi], def when absent.
func (p params) int64In(name string, def, lo, hi int64) (int64, error) {
	v, ok := p.m[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, p.bad(name, v, "not an integer")
	}
	if n < lo || n > hi {
		if hi == math.MaxInt64 {
			return 0, p.bad(name, v, fmt.Sprintf("must be at least %d", lo))
		}
		return 0, p.bad(name, v, fmt.Sprintf("must be in [%d, %d]", lo, hi))
	}
	return n, nil
}

// boolean reads true/false (strconv.ParseBool syntax), def when absent.
func (p params) boolean(name string, def bool) (bool, error) {
	v, ok := p.m[name]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, p.bad(name, v, "not a boolean (true or false)")
	}
	return b, nil
}

// rate reads an optional positive, finite records-per-second rate; 0 means
// absent (full speed).
func (p params) rate(name string) (float64, error) {
	v, ok := p.m[name]
	if !ok {
		return 0, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, p.bad(name, v, "not a number")
	}
	if math.IsNaN(r) || math.IsInf(r, 0) || r <= 0 {
		return 0, p.bad(name, v, "must be a positive number of records per second")
	}
	return r, nil
}

// ratio reads a number in [0, 1], def when absent.
func (p params) ratio(name string, def float64) (float64, error) {
	v, ok := p.m[name]
	if !ok {
		return def, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, p.bad(name, v, "not a number")
	}
	if math.IsNaN(r) || r < 0 || r > 1 {
		return 0, p.bad(name, v, "must be in [0, 1]")
	}
	return r, nil
}

// schema reads a required schema in batch.ParseSchema syntax.
func (p params) schema(name string) (*arrow.Schema, error) {
	v, ok := p.m[name]
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("%w: parameter %s is required", ErrParams, name)
	}
	s, err := batch.ParseSchema(v)
	if err != nil {
		return nil, fmt.Errorf("%w: parameter %s=%q: %w", ErrParams, name, v, err)
	}
	return s, nil
}

// oneOf reads one of the allowed values, def when absent.
func (p params) oneOf(name, def string, allowed ...string) (string, error) {
	v, ok := p.m[name]
	if !ok {
		return def, nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", p.bad(name, v, "must be one of "+strings.Join(allowed, ", "))
}

// required reads a non-empty parameter.
func (p params) required(name string) (string, error) {
	v := p.m[name]
	if v == "" {
		return "", fmt.Errorf("%w: parameter %s is required", ErrParams, name)
	}
	return v, nil
}
