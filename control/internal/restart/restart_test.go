package restart

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestExponentialDelay(t *testing.T) {
	s, err := Parse(map[string]string{KeyExpInitial: "100ms", KeyExpMax: "1s", KeyExpMultiplier: "2", KeyExpReset: "1m", KeyExpJitter: "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	var got []time.Duration
	for i := 0; i < 6; i++ { // failures 1 s apart: no reset
		d, ok := s.OnFailure(t0.Add(time.Duration(i) * time.Second))
		if !ok {
			t.Fatal("gave up")
		}
		got = append(got, d)
	}
	if fmt.Sprint(got) != "[100ms 200ms 400ms 800ms 1s 1s]" {
		t.Fatalf("backoffs %v", got)
	}
	// A failure after a quiet minute starts over.
	if d, _ := s.OnFailure(t0.Add(6*time.Second + time.Minute)); d != 100*time.Millisecond {
		t.Fatalf("after reset: %s", d)
	}
}

func TestJitterAndAttempts(t *testing.T) {
	r := []float64{0, 0.5, 0.999}
	i := 0
	rnd := func() float64 { v := r[i%len(r)]; i++; return v }
	s, err := Parse(map[string]string{KeyExpInitial: "1s", KeyExpMax: "1s", KeyExpJitter: "0.1", KeyExpAttempts: "3"}, rnd)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(100, 0)
	var got []time.Duration
	for k := 0; k < 3; k++ {
		d, ok := s.OnFailure(now)
		if !ok {
			t.Fatalf("gave up at %d", k)
		}
		got = append(got, d.Round(time.Millisecond))
	}
	if fmt.Sprint(got) != "[900ms 1s 1.1s]" {
		t.Fatalf("jittered %v", got)
	}
	if _, ok := s.OnFailure(now); ok {
		t.Fatal("a fourth failure within the reset threshold restarted")
	}
}

func TestFixedDelayAndNone(t *testing.T) {
	s, err := Parse(map[string]string{KeyType: "fixed-delay", KeyFixedAttempts: "2", KeyFixedDelay: "3s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 2; k++ {
		if d, ok := s.OnFailure(time.Now()); !ok || d != 3*time.Second {
			t.Fatalf("attempt %d: %s %v", k, d, ok)
		}
	}
	if _, ok := s.OnFailure(time.Now()); ok {
		t.Fatal("a third restart")
	}
	n, _ := Parse(map[string]string{KeyType: "none"}, nil)
	if _, ok := n.OnFailure(time.Now()); ok {
		t.Fatal("none restarted")
	}
	def, _ := Parse(nil, nil)
	if def.String() != "exponential-delay (initial 200ms, max 30s, multiplier 2, reset after 10m0s, jitter 0.1)" {
		t.Fatalf("default %s", def)
	}
}

func TestParseRefuses(t *testing.T) {
	cases := []map[string]string{
		{KeyType: "sometimes"},
		{KeyExpInitial: "soon"},
		{KeyExpInitial: "2s", KeyExpMax: "1s"},
		{KeyExpMultiplier: "0.5"},
		{KeyExpMultiplier: "NaN"},
		{KeyExpJitter: "2"},
		{KeyExpAttempts: "0"},
		{KeyType: "fixed-delay", KeyFixedAttempts: "three"},
		{KeyType: "fixed-delay", KeyFixedDelay: "-1s"},
	}
	for _, c := range cases {
		if _, err := Parse(c, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%v: %v", c, err)
		}
	}
}
