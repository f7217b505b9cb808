package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	weir "github.com/weirflow/weir/sdk/go"
)

// project: params "col" or "new=col", comma-separated; outputs those input
// columns, renamed where asked, in that order.
func openProject(op *weir.Operator) (weir.MapFunc, error) {
	items := op.ParamList()
	if len(items) == 0 {
		return nil, errors.New(`no columns to project (params: "col" or "new=col", comma-separated)`)
	}
	src := make([]int, len(items))
	out := make(weir.Schema, len(items))
	for k, it := range items {
		name, from, ok := strings.Cut(it, "=")
		if !ok {
			from = name
		}
		name, from = strings.TrimSpace(name), strings.TrimSpace(from)
		j, err := op.Input.Lookup(from)
		if err != nil {
			return nil, err
		}
		src[k] = j
		out[k] = op.Input[j]
		out[k].Name = name
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("projection %q: %w", op.Params, err)
	}
	op.Output = out
	return func(in *weir.Batch, b *weir.Builder) error {
		for k, j := range src {
			if err := b.CopyColumn(k, in, j); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// intParams reads the params "column,int": the index of the int64 column
// and the integer.
func intParams(op *weir.Operator) (int, int64, error) {
	ps := op.ParamList()
	if len(ps) != 2 {
		return 0, 0, fmt.Errorf("params %q: want column,integer", op.Params)
	}
	j, err := op.Input.Lookup(ps[0], weir.Int64)
	if err != nil {
		return 0, 0, err
	}
	v, err := strconv.ParseInt(ps[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("params %q: %q is not an integer", op.Params, ps[1])
	}
	return j, v, nil
}

// int_multiple: params "column,divisor"; keeps the rows whose int64 column
// is a multiple of divisor (nulls are dropped).
func openIntMultiple(op *weir.Operator) (weir.FilterFunc, error) {
	j, d, err := intParams(op)
	if err != nil {
		return nil, err
	}
	if d == 0 {
		return nil, errors.New("divisor 0")
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		c := in.Int64(j)
		bits := sel.Bits()
		for i, v := range c.Values() {
			if v%d == 0 {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		sel.Mask(c.Validity())
		return nil
	}, nil
}

// int_equals: params "column,value"; keeps the rows whose int64 column
// equals value (nulls are dropped).
func openIntEquals(op *weir.Operator) (weir.FilterFunc, error) {
	j, want, err := intParams(op)
	if err != nil {
		return nil, err
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		c := in.Int64(j)
		bits := sel.Bits()
		for i, v := range c.Values() {
			if v == want {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		sel.Mask(c.Validity())
		return nil
	}, nil
}

// int_ge: params "a,b"; keeps the rows whose int64 column a is at least
// int64 column b (rows with a null in either are dropped).
func openIntGE(op *weir.Operator) (weir.FilterFunc, error) {
	ps := op.ParamList()
	if len(ps) != 2 {
		return nil, fmt.Errorf("params %q: want two int64 columns a,b", op.Params)
	}
	a, err := op.Input.Lookup(ps[0], weir.Int64)
	if err != nil {
		return nil, err
	}
	b, err := op.Input.Lookup(ps[1], weir.Int64)
	if err != nil {
		return nil, err
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		ca, cb := in.Int64(a), in.Int64(b)
		bv := cb.Values()
		bits := sel.Bits()
		for i, v := range ca.Values() {
			if v >= bv[i] {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		sel.Mask(ca.Validity())
		sel.Mask(cb.Validity())
		return nil
	}, nil
}

// string_in: params "column,value,value..."; keeps the rows whose utf8
// column is one of the values (nulls are dropped).
func openStringIn(op *weir.Operator) (weir.FilterFunc, error) {
	ps := op.ParamList()
	if len(ps) < 2 {
		return nil, fmt.Errorf("params %q: want column,value[,value...]", op.Params)
	}
	j, err := op.Input.Lookup(ps[0], weir.Utf8)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ps)-1)
	for _, v := range ps[1:] {
		set[v] = true
	}
	return func(in *weir.Batch, sel *weir.Selection) error {
		c := in.Utf8(j)
		bits := sel.Bits()
		for i := range c.Len() {
			if set[string(c.Bytes(i))] {
				bits[i>>3] |= 1 << (i & 7)
			}
		}
		sel.Mask(c.Validity())
		return nil
	}, nil
}

// q1_euros: bids → auction, bidder, price (float64: price × rate, the
// params, default 0.908), dateTime, extra.
func openQ1Euros(op *weir.Operator) (weir.MapFunc, error) {
	rate := 0.908
	if s := strings.TrimSpace(op.Params); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("rate %q is not a positive number", s)
		}
		rate = r
	}
	var cols [5]int
	for k, c := range []struct {
		name string
		typ  weir.DataType
	}{{"auction", weir.Int64}, {"bidder", weir.Int64}, {"price", weir.Int64}, {"dateTime", weir.TimestampMs}, {"extra", weir.Utf8}} {
		j, err := op.Input.Lookup(c.name, c.typ)
		if err != nil {
			return nil, err
		}
		cols[k] = j
	}
	op.Output = weir.Schema{
		op.Input[cols[0]], op.Input[cols[1]],
		{Name: "price", Type: weir.Float64, NotNull: op.Input[cols[2]].NotNull},
		op.Input[cols[3]], op.Input[cols[4]],
	}
	return func(in *weir.Batch, out *weir.Builder) error {
		for k, j := range []int{cols[0], cols[1], -1, cols[3], cols[4]} {
			if j < 0 {
				continue
			}
			if err := out.CopyColumn(k, in, j); err != nil {
				return err
			}
		}
		price := in.Int64(cols[2])
		vals := price.Values()
		eur := out.Float64(2).ExtendValidity(price.Validity())
		eur = eur[:len(vals)]
		for i, v := range vals {
			eur[i] = float64(v) * rate
		}
		return nil
	}, nil
}
