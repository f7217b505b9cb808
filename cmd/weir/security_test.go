package main

import (
	"errors"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8081", true},
		{"127.3.4.5:0", true},
		{"[::1]:8081", true},
		{"localhost:8081", true},
		{":8081", false},
		{"0.0.0.0:8081", false},
		{"[::]:8081", false},
		{"10.1.2.3:8081", false},
		{"example.com:8081", false},
		{"nonsense", false},
	}
	for _, tc := range cases {
		err := loopbackOnly(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errUsage) {
			t.Errorf("loopbackOnly(%q): %v is not a usage error", tc.addr, err)
		}
	}
}
