// Command goguest is a tiny wasip1 reactor used by the interrupt package's
// tests. Build with:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goguest.wasm .
package main

var rows []int64

// fill allocates n rows with a deterministic pattern.
//
//go:wasmexport fill
func fill(n int32) {
	rows = make([]int64, n)
	for i := range rows {
		rows[i] = int64(i)*3 - 7
	}
}

// sum returns the sum of all rows.
//
//go:wasmexport sum
func sum() int64 {
	var s int64
	for _, v := range rows {
		s += v
	}
	return s
}

// spin runs n rounds of a per-row loop; it never returns when n < 0.
//
//go:wasmexport spin
func spin(n int64) int64 {
	var s int64
	for i := int64(0); n < 0 || i < n; i++ {
		for _, v := range rows {
			s += v ^ i
		}
	}
	return s
}

func main() {}
