package weir

import (
	"strings"
	"testing"
	"unsafe"
)

func TestDataTypeNames(t *testing.T) {
	tests := []struct {
		typ    DataType
		name   string
		format string
	}{
		{Bool, "bool", "b"},
		{Int8, "int8", "c"},
		{Int16, "int16", "s"},
		{Int32, "int32", "i"},
		{Int64, "int64", "l"},
		{Uint8, "uint8", "C"},
		{Uint16, "uint16", "S"},
		{Uint32, "uint32", "I"},
		{Uint64, "uint64", "L"},
		{Float32, "float32", "f"},
		{Float64, "float64", "g"},
		{Utf8, "utf8", "u"},
		{Binary, "binary", "z"},
		{Date32, "date32", "tdD"},
		{TimestampS, "timestamp[s]", "tss:"},
		{TimestampMs, "timestamp[ms]", "tsm:"},
		{TimestampUs, "timestamp[us]", "tsu:"},
		{TimestampNs, "timestamp[ns]", "tsn:"},
		{Timestamp(Millisecond, "UTC"), "timestamp[ms, UTC]", "tsm:UTC"},
		{Timestamp(Nanosecond, "Europe/Paris"), "timestamp[ns, Europe/Paris]", "tsn:Europe/Paris"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.typ.Valid() {
				t.Fatalf("%q not valid", tt.format)
			}
			if got := tt.typ.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.typ.Format(); got != tt.format {
				t.Errorf("Format() = %q, want %q", got, tt.format)
			}
			got, err := ParseType(tt.name)
			if err != nil || got != tt.typ {
				t.Errorf("ParseType(%q) = %q, %v", tt.name, got, err)
			}
			got, err = ParseType(tt.format)
			if err != nil || got != tt.typ {
				t.Errorf("ParseType(%q) = %q, %v", tt.format, got, err)
			}
		})
	}
}

func TestTimestampParts(t *testing.T) {
	ts := Timestamp(Microsecond, "UTC")
	if !ts.IsTimestamp() || ts.Unit() != Microsecond || ts.TimeZone() != "UTC" {
		t.Errorf("parts of %q: %v %v %q", ts, ts.IsTimestamp(), ts.Unit(), ts.TimeZone())
	}
	if Int64.IsTimestamp() || Int64.Unit() != 0 || Int64.TimeZone() != "" {
		t.Error("int64 reports timestamp parts")
	}
	if got := Microsecond.String(); got != "us" {
		t.Errorf("Microsecond = %q", got)
	}
}

func TestParseTypeErrors(t *testing.T) {
	for _, s := range []string{"", "int128", "timestamp[ms", "timestamp[h]", "tsx:", "+s", "decimal"} {
		if _, err := ParseType(s); err == nil {
			t.Errorf("ParseType(%q) succeeded", s)
		}
	}
	if DataType("+s").Valid() || DataType("tsm").Valid() {
		t.Error("invalid formats reported valid")
	}
	if got := DataType("e").String(); !strings.HasPrefix(got, "invalid") {
		t.Errorf("String of invalid = %q", got)
	}
}

func TestParseSchema(t *testing.T) {
	tests := []struct {
		text string
		want Schema
		err  string
	}{
		{"", Schema{}, ""},
		{"auction:int64,bidder:int64,price:float64,date_time:timestamp[ms]", Schema{
			{Name: "auction", Type: Int64}, {Name: "bidder", Type: Int64},
			{Name: "price", Type: Float64}, {Name: "date_time", Type: TimestampMs},
		}, ""},
		{" a : utf8 not null , t:timestamp[ns, UTC]", Schema{
			{Name: "a", Type: Utf8, NotNull: true}, {Name: "t", Type: Timestamp(Nanosecond, "UTC")},
		}, ""},
		{"a", nil, "want name:type"},
		{"a:int64,a:utf8", nil, "duplicate column"},
		{"a:wat", nil, "unknown type"},
		{":int64", nil, "no name"},
	}
	for _, tt := range tests {
		got, err := ParseSchema(tt.text)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSchema(%q) error = %v, want %q", tt.text, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSchema(%q): %v", tt.text, err)
			continue
		}
		if got.String() != tt.want.String() || len(got) != len(tt.want) {
			t.Errorf("ParseSchema(%q) = %v, want %v", tt.text, got, tt.want)
		}
		back, err := ParseSchema(got.String())
		if err != nil || back.String() != got.String() {
			t.Errorf("round trip of %q: %v %v", got.String(), back, err)
		}
	}
}

func TestSchemaLookup(t *testing.T) {
	s := Schema{{Name: "x", Type: Float64}, {Name: "s", Type: Utf8}, {Name: "t", Type: Timestamp(Millisecond, "UTC")}}
	tests := []struct {
		name  string
		types []DataType
		want  int
		err   string
	}{
		{"x", nil, 0, ""},
		{"x", []DataType{Float64}, 0, ""},
		{"s", []DataType{Binary, Utf8}, 1, ""},
		{"t", []DataType{TimestampMs}, 2, ""},
		{"t", []DataType{Timestamp(Millisecond, "UTC")}, 2, ""},
		{"t", []DataType{TimestampS}, -1, `column "t" is timestamp[ms, UTC], want timestamp[s]`},
		{"y", nil, -1, `input has no column "y" (columns: x, s, t)`},
		{"s", []DataType{Float64, Int64}, -1, `column "s" is utf8, want float64 or int64`},
	}
	for _, tt := range tests {
		got, err := s.Lookup(tt.name, tt.types...)
		if got != tt.want {
			t.Errorf("Lookup(%q) = %d, want %d", tt.name, got, tt.want)
		}
		if (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("Lookup(%q) error = %v, want %q", tt.name, err, tt.err)
		}
	}
}

func TestStructLayout(t *testing.T) {
	// SPEC §4.1: the wasm32 layouts.
	if n := unsafe.Sizeof(cArray{}); n != 64 {
		t.Errorf("ArrowArray is %d bytes", n)
	}
	if n := unsafe.Sizeof(cSchema{}); n != 48 {
		t.Errorf("ArrowSchema is %d bytes", n)
	}
	var a cArray
	var s cSchema
	offsets := []struct {
		name      string
		got, want uintptr
	}{
		{"array.length", unsafe.Offsetof(a.length), 0},
		{"array.null_count", unsafe.Offsetof(a.nullCount), 8},
		{"array.offset", unsafe.Offsetof(a.offset), 16},
		{"array.n_buffers", unsafe.Offsetof(a.nBuffers), 24},
		{"array.n_children", unsafe.Offsetof(a.nChildren), 32},
		{"array.buffers", unsafe.Offsetof(a.buffers), 40},
		{"array.children", unsafe.Offsetof(a.children), 44},
		{"array.dictionary", unsafe.Offsetof(a.dictionary), 48},
		{"array.release", unsafe.Offsetof(a.release), 52},
		{"array.private_data", unsafe.Offsetof(a.private), 56},
		{"schema.format", unsafe.Offsetof(s.format), 0},
		{"schema.name", unsafe.Offsetof(s.name), 4},
		{"schema.metadata", unsafe.Offsetof(s.metadata), 8},
		{"schema.flags", unsafe.Offsetof(s.flags), 16},
		{"schema.n_children", unsafe.Offsetof(s.nChildren), 24},
		{"schema.children", unsafe.Offsetof(s.children), 32},
		{"schema.dictionary", unsafe.Offsetof(s.dictionary), 36},
		{"schema.release", unsafe.Offsetof(s.release), 40},
		{"schema.private_data", unsafe.Offsetof(s.private), 44},
	}
	for _, o := range offsets {
		if o.got != o.want {
			t.Errorf("%s at %d, want %d", o.name, o.got, o.want)
		}
	}
}
