package interrupt

import (
	"bytes"
	"errors"
	"testing"
)

// table is one entry of a table section: funcref with limits.
func table(hasMax bool, lo, hi uint32) []byte {
	if !hasMax {
		return cat([]byte{0x70, 0x00}, leb(lo))
	}
	return cat([]byte{0x70, 0x01}, leb(lo), leb(hi))
}

func TestCapTables(t *testing.T) {
	noTables := module(sec(secType, vec(funcType(nil, nil))))
	cases := []struct {
		name string
		in   []byte
		want []byte // nil: the input unchanged
		err  error  // errAny: any error
	}{
		{"no tables", noTables, nil, nil},
		{"max added", module(sec(secTable, vec(table(false, 5, 0)))), module(sec(secTable, vec(table(true, 5, 5)))), nil},
		{"max kept", module(sec(secTable, vec(table(true, 5, 9)))), module(sec(secTable, vec(table(true, 5, 9)))), nil},
		{"at the limit", module(sec(secTable, vec(table(true, 1, 60), table(false, 40, 0)))), module(sec(secTable, vec(table(true, 1, 60), table(true, 40, 40)))), nil},
		{"minimum over", module(sec(secTable, vec(table(false, 101, 0)))), nil, ErrTables},
		{"maximum over", module(sec(secTable, vec(table(true, 1, 101)))), nil, ErrTables},
		{"sum over", module(sec(secTable, vec(table(true, 50, 50), table(false, 51, 0)))), nil, ErrTables},
		{"huge maximum", module(sec(secTable, vec(table(true, 0, 0xffffffff)))), nil, ErrTables},
		{"max below min", module(sec(secTable, vec(table(true, 9, 5)))), nil, ErrMalformed},
		{"64-bit table", module(sec(secTable, vec(cat([]byte{0x70, 0x04}, leb(1))))), nil, ErrUnsupported},
		{"initializer", module(sec(secTable, vec(cat([]byte{0x40, 0x00, 0x70, 0x00}, leb(1), []byte{0xd0, 0x70, 0x0b})))), nil, ErrUnsupported},
		{"truncated", module(sec(secTable, leb(2), table(false, 1, 0))), nil, errAny},
		{"not wasm", []byte("PK\x03\x04 zip"), nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := CapTables(tc.in, 100)
			switch {
			case errors.Is(tc.err, errAny):
				if err == nil {
					t.Fatal("no error")
				}
				return
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("got % x\nwant % x", out, want)
			}
		})
	}
}

// errAny stands for any error in a table of cases.
var errAny = errors.New("any error")
