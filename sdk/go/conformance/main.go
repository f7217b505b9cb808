// Command conformance is the Go SDK's conformance module: it registers the
// functions of abi/SPEC.md §11.1 with the SDK's public API, so that the host's
// harness can run the ABI test vectors (abi/testdata/vectors) against it.
//
// Build it with:
//
//	cd sdk/go && GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o ../../bin/sdk/conformance-go.wasm ./conformance
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	weir "github.com/weirflow/weir/sdk/go"
)

func main() {}

func init() {
	weir.Map("identity", openIdentity)
	weir.Map("scale_f64", openScale)
	weir.Map("upper_utf8", openUpper)
	weir.Filter("gt_i64", openGreater)
	weir.FlatMap("tokenize", openTokenize)
	weir.Process("count", openCount)
	weir.Aggregate("sum_i64", openSum)
	weir.Map("fail", openFail)
	weir.DefinePlan(plan)
}

// identity: the input unchanged (every type, nulls, offsets).
func openIdentity(op *weir.Operator) (weir.MapFunc, error) {
	op.Output = op.Input
	return func(in *weir.Batch, out *weir.Builder) error {
		return out.AppendBatch(in)
	}, nil
}

// scale_f64: y = x × factor; null stays null.
func openScale(op *weir.Operator) (weir.MapFunc, error) {
	x, err := op.Input.Lookup("x", weir.Float64)
	if err != nil {
		return nil, err
	}
	factor, err := strconv.ParseFloat(strings.TrimSpace(op.Params), 64)
	if err != nil {
		return nil, fmt.Errorf("params: factor %q is not a number", op.Params)
	}
	op.Output = weir.Schema{{Name: "y", Type: weir.Float64}}
	return func(in *weir.Batch, out *weir.Builder) error {
		xs := in.Float64(x)
		vals := xs.Values()
		ys := out.Float64(0).ExtendValidity(xs.Validity())
		scale(ys[:len(vals)], vals, factor)
		return nil
	}, nil
}

// scale sets y[i] = x[i]*f. The loop is unrolled by 16: Go's wasm code
// generator pays a dispatch per loop iteration; this measured ~1.5x faster
// than the plain loop under wazero.
func scale(y, x []float64, f float64) {
	y = y[:len(x)]
	i := 0
	for ; i+16 <= len(x); i += 16 {
		xs := (*[16]float64)(x[i:])
		ys := (*[16]float64)(y[i:])
		ys[0], ys[1], ys[2], ys[3] = xs[0]*f, xs[1]*f, xs[2]*f, xs[3]*f
		ys[4], ys[5], ys[6], ys[7] = xs[4]*f, xs[5]*f, xs[6]*f, xs[7]*f
		ys[8], ys[9], ys[10], ys[11] = xs[8]*f, xs[9]*f, xs[10]*f, xs[11]*f
		ys[12], ys[13], ys[14], ys[15] = xs[12]*f, xs[13]*f, xs[14]*f, xs[15]*f
	}
	for ; i < len(x); i++ {
		y[i] = x[i] * f
	}
}

// upper_utf8: ASCII a-z upper-cased; null stays null.
func openUpper(op *weir.Operator) (weir.MapFunc, error) {
	s, err := op.Input.Lookup("s", weir.Utf8)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{{Name: "s", Type: weir.Utf8}}
	return func(in *weir.Batch, out *weir.Builder) error {
		// Copy the column (offsets, validity and bytes), then upper-case the
		// bytes in place: the transformation preserves lengths.
		upperASCII(out.Utf8(0).AppendColumn(in.Utf8(s)))
		return nil
	}, nil
}

// upperASCII upper-cases the ASCII letters of b, 8 bytes at a time (SWAR).
// Bytes >= 0x80 (parts of multi-byte UTF-8 sequences) are left alone.
func upperASCII(b []byte) {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		h := w &^ hi
		// High bit of each byte set iff the byte is in 'a'..'z'.
		lower := (h + (0x80-'a')*lo) &^ (h + (0x80-'z'-1)*lo) &^ w & hi
		binary.LittleEndian.PutUint64(b[i:], w^(lower>>2))
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c-'a' < 26 {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// gt_i64: keeps rows with non-null x > threshold.
func openGreater(op *weir.Operator) (weir.FilterFunc, error) {
	x, err := op.Input.Lookup("x", weir.Int64)
	if err != nil {
		return nil, err
	}
	t, err := strconv.ParseInt(strings.TrimSpace(op.Params), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("params: threshold %q is not an integer", op.Params)
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		xs := in.Int64(x)
		vals := xs.Values()
		bits := sel.Bits()
		full := len(vals) &^ 7
		for i := 0; i < full; i += 8 {
			v := vals[i : i+8 : i+8]
			bits[i>>3] = b2u(v[0] > t) | b2u(v[1] > t)<<1 | b2u(v[2] > t)<<2 | b2u(v[3] > t)<<3 |
				b2u(v[4] > t)<<4 | b2u(v[5] > t)<<5 | b2u(v[6] > t)<<6 | b2u(v[7] > t)<<7
		}
		for i := full; i < len(vals); i++ {
			bits[i>>3] |= b2u(vals[i] > t) << (i & 7)
		}
		sel.Mask(xs.Validity())
		return nil
	}, nil
}

func isLetter(c byte) bool { return (c|0x20)-'a' < 26 }

// letter returns 1 if c is an ASCII letter, else 0, without branching.
func letter(c byte) int { return int(b2u((c|0x20)-'a' < 26)) }

// tokenize: per row, maximal runs of ASCII letters, lower-cased, in order;
// null lines emit nothing.
func openTokenize(op *weir.Operator) (weir.MapFunc, error) {
	line, err := op.Input.Lookup("line", weir.Utf8)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{{Name: "word", Type: weir.Utf8}}
	return func(in *weir.Batch, out *weir.Builder) error {
		tokenize(in.Utf8(line), out.Utf8(0))
		return nil
	}, nil
}

// tokenize appends the words of lines to words. It makes two branch-free
// passes over the bytes: one counts the words and their bytes, the other
// writes them straight into the output buffers. The per-line loops are
// separate functions: Go's wasm code generator has few registers, and small
// loops keep their variables in them.
func tokenize(lines *weir.StringColumn, words *weir.StringBuilder) {
	offs, data, valid := lines.Offsets(), lines.Data(), lines.Validity()
	n := lines.Len()
	nw, nb := 0, 0
	for i := range n {
		if valid.Get(i) {
			w, b := countWords(data[offs[i]:offs[i+1]])
			nw += w
			nb += b
		}
	}
	if nw == 0 {
		return
	}
	wo, wd := words.ExtendRaw(nw, nb)
	base := wo[0]
	k, pos := 1, 0
	for i := range n {
		if !valid.Get(i) {
			continue
		}
		line := data[offs[i]:offs[i+1]]
		// Trim trailing non-letters, so that inside writeWords a letter
		// always follows: pos stays < nb and k <= nw.
		for len(line) > 0 && !isLetter(line[len(line)-1]) {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			pos, k = writeWords(line, wd, wo, pos, k, base)
		}
	}
}

// countWords returns the number of words and of letters in line.
//
//go:noinline
func countWords(line []byte) (nw, nb int) {
	prev := 0
	for _, c := range line {
		l := letter(c)
		nw += l &^ prev
		nb += l
		prev = l
	}
	return nw, nb
}

// writeWords writes the words of line, which ends with a letter, lower-cased
// at wd[pos:], and their end offsets (plus base) at wo[k:]. It returns the
// new pos and k.
//
//go:noinline
func writeWords(line, wd []byte, wo []int32, pos, k int, base int32) (int, int) {
	prev := 0
	for _, c := range line {
		l := letter(c)
		wd[pos] = c | 0x20 // overwritten by the next letter unless c is one
		pos += l
		wo[k] = base + int32(pos) // final once the word ends
		k += prev &^ l
		prev = l
	}
	wo[k] = base + int32(pos)
	return pos, k + 1
}

// count: per input row, the key and the key's count including that row.
func openCount(op *weir.Operator) (weir.ProcessFunc, error) {
	key, err := op.Input.Lookup("key", weir.Int64)
	if err != nil {
		return nil, err
	}
	op.Output = weir.Schema{{Name: "key", Type: weir.Int64}, {Name: "count", Type: weir.Int64}}
	op.State = weir.Schema{{Name: "count", Type: weir.Int64}}
	return func(in *weir.Batch, keys []int32, state *weir.Table, out *weir.Builder) error {
		counts := state.Int64(0)
		out.Int64(0).AppendColumn(in.Int64(key))
		cs := out.Int64(1).Extend(len(keys))
		for i, k := range keys {
			counts[k]++
			cs[i] = counts[k]
		}
		return nil
	}, nil
}

// sum_i64: accumulator (sum, n) over non-null x; result sum, null when n = 0.
func openSum(op *weir.Operator) (*weir.Aggregator, error) {
	x, err := op.Input.Lookup("x", weir.Int64)
	if err != nil {
		return nil, err
	}
	op.State = weir.Schema{{Name: "sum", Type: weir.Int64}, {Name: "n", Type: weir.Int64}}
	op.Output = weir.Schema{{Name: "sum", Type: weir.Int64}}
	return &weir.Aggregator{
		Add: func(acc *weir.Table, in *weir.Batch, groups []int32) error {
			xs := in.Int64(x)
			sums, ns := acc.Int64(0), acc.Int64(1)
			if xs.NullCount() == 0 {
				addAll(sums, ns, xs.Values(), groups)
			} else {
				addValid(sums, ns, xs.Values(), xs.Validity(), groups)
			}
			return nil
		},
		Merge: func(acc, other *weir.Table, groups []int32) error {
			sums, ns := acc.Int64(0), acc.Int64(1)
			osums, ons := other.Int64(0), other.Int64(1)
			for i, g := range groups {
				sums[g] += osums[i]
				ns[g] += ons[i]
			}
			return nil
		},
		Result: func(acc *weir.Table, out *weir.Builder) error {
			sums, ns := acc.Int64(0), acc.Int64(1)
			rb := out.Int64(0)
			vs := rb.Extend(acc.Len())
			for k := range vs {
				vs[k] = sums[k]
				if ns[k] == 0 {
					rb.SetNull(k)
				}
			}
			return nil
		},
	}, nil
}

// addAll adds vals[i] into group groups[i].
//
//go:noinline
func addAll(sums, ns, vals []int64, groups []int32) {
	vals = vals[:len(groups)]
	for i, g := range groups {
		sums[g] += vals[i]
		ns[g]++
	}
}

// addValid adds the non-null vals[i] into group groups[i].
func addValid(sums, ns, vals []int64, valid weir.Bitmap, groups []int32) {
	bits, off := valid.Bytes()
	if valid.Zeros()*16 > len(groups) {
		addMasked(sums, ns, vals, bits, off, groups)
		return
	}
	// Few nulls: add every row, then take back the null ones, found a byte of
	// the validity bitmap at a time. Cheaper than masking every row.
	addAll(sums, ns, vals, groups)
	n := len(groups)
	for b := 0; b<<3 < off+n; b++ {
		if bits[b] == 0xff {
			continue
		}
		for k := range 8 {
			i := b<<3 + k - off
			if i >= 0 && i < n && bits[b]>>k&1 == 0 {
				sums[groups[i]] -= vals[i]
				ns[groups[i]]--
			}
		}
	}
}

// addMasked adds the non-null vals[i] into group groups[i], without branches.
//
//go:noinline
func addMasked(sums, ns, vals []int64, bits []byte, off int, groups []int32) {
	vals = vals[:len(groups)]
	for i, g := range groups {
		j := i + off
		m := int64(bits[j>>3] >> (j & 7) & 1) // 0 for nulls
		sums[g] += vals[i] & -m
		ns[g] += m
	}
}

// fail: fails every batch with exactly the params text as its message.
func openFail(op *weir.Operator) (weir.MapFunc, error) {
	op.Output = op.Input
	msg := op.Params
	return func(in *weir.Batch, out *weir.Builder) error {
		return errors.New(msg)
	}, nil
}

// plan: identity over a file, to give the module a valid plan.
func plan(args []string) (*weir.Plan, error) {
	fs := weir.NewFlagSet("conformance")
	input := fs.String("input", "in.jsonl", "input file (jsonl)")
	output := fs.String("output", "out", "output directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	p := weir.NewPlan("conformance")
	p.Source("file", weir.Params{"path": *input, "format": "jsonl", "schema": "x:int64"}).
		Map("identity").
		Sink("file", weir.Params{"path": *output, "format": "jsonl"})
	return p, nil
}
