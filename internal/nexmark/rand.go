package nexmark

import "math/bits"

// rng is a splitmix64 generator: tiny state, a few cycles per draw, and
// any seed is good. Each event has its own, seeded from the generator's
// seed and the event id.
type rng struct{ s uint64 }

const (
	golden  = 0x9e3779b97f4a7c15 // splitmix64's increment
	idSpray = 0xd1b54a32d192ed03 // an odd constant spreading event ids over the state space
)

// mix64 is splitmix64's finalizer (a bijection of uint64).
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// seedState turns a user seed into the base state of every event's rng.
func seedState(seed int64) uint64 { return mix64(uint64(seed) + golden) }

// eventRNG returns the generator of event id under the base state.
func eventRNG(base uint64, id int64) rng { return rng{mix64(base ^ uint64(id)*idSpray)} }

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// intn returns a number in [0, n) for n > 0 (Lemire's multiply-shift; the
// bias is below n/2^64).
func (r *rng) intn(n int64) int64 {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int64(hi)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * 0x1p-53 }
