package batch

import (
	"errors"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestAppendDecodedRoundTrip(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	types := []arrow.DataType{
		arrow.FixedWidthTypes.Boolean, arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint8,
		arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Int32,
		arrow.PrimitiveTypes.Uint32, arrow.FixedWidthTypes.Date32, arrow.PrimitiveTypes.Float32,
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint64, arrow.FixedWidthTypes.Timestamp_ms,
		arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String, arrow.BinaryTypes.Binary,
	}
	for _, dt := range types {
		t.Run(dt.String(), func(t *testing.T) {
			b := array.NewBuilder(alloc, dt)
			defer b.Release()
			vals := []string{"1", "0", "7"}
			switch dt.ID() {
			case arrow.BINARY:
				vals = []string{"AQ==", "", "Bw=="}
			case arrow.BOOL:
				vals = []string{"true", "false", "true"}
			case arrow.DATE32:
				vals = []string{"2020-01-01", "1970-01-01", "2031-12-31"}
			case arrow.TIMESTAMP:
				vals = []string{"2020-01-01T00:00:00.001Z", "1970-01-01T00:00:00Z", "2031-12-31T23:59:59Z"}
			}
			for _, s := range vals {
				if err := b.AppendValueFromString(s); err != nil {
					t.Fatal(err)
				}
			}
			b.AppendNull()
			in := b.NewArray()
			defer in.Release()
			var enc []byte
			var err error
			for i := 0; i < in.Len(); i++ {
				if enc, err = AppendKey(enc, in, i); err != nil {
					t.Fatal(err)
				}
			}
			out := array.NewBuilder(alloc, dt)
			defer out.Release()
			rest := enc
			for range in.Len() {
				if rest, err = AppendDecoded(out, rest); err != nil {
					t.Fatal(err)
				}
			}
			got := out.NewArray()
			defer got.Release()
			if len(rest) != 0 || !array.Equal(in, got) {
				t.Fatalf("round trip: %v -> %v (rest %d)", in, got, len(rest))
			}
			// Every truncation is an error, never a panic.
			for n := range len(enc) {
				tb := array.NewBuilder(alloc, dt)
				rest := enc[:n]
				for len(rest) > 0 && err == nil {
					rest, err = AppendDecoded(tb, rest)
				}
				tb.Release()
				err = nil
			}
			if _, err := AppendDecoded(out, []byte{7}); !errors.Is(err, ErrKeyEncoding) {
				t.Fatalf("bad flag: %v", err)
			}
		})
	}
}
