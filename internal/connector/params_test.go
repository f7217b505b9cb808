package connector

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadParams(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(file, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		kind, name string
		params     map[string]string
		want       string // the parameter the error must name
	}{
		{"source", "nope", nil, "nope"},
		{"sink", "nope", nil, "nope"},

		{"source", "sequence", map[string]string{"count": "-1"}, "count"},
		{"source", "sequence", map[string]string{"count": "ten"}, "count"},
		{"source", "sequence", map[string]string{"keys": "0"}, "keys"},
		{"source", "sequence", map[string]string{"keys": "-3"}, "keys"},
		{"source", "sequence", map[string]string{"rate": "fast"}, "rate"},
		{"source", "sequence", map[string]string{"rate": "0"}, "rate"},
		{"source", "sequence", map[string]string{"rate": "-5"}, "rate"},
		{"source", "sequence", map[string]string{"rate": "NaN"}, "rate"},
		{"source", "sequence", map[string]string{"rate": "+Inf"}, "rate"},
		{"source", "sequence", map[string]string{"start": "1.5"}, "start"},
		{"source", "sequence", map[string]string{"unbounded": "maybe"}, "unbounded"},
		{"source", "sequence", map[string]string{"unbounded": "true", "count": "5"}, "count"},
		{"source", "sequence", map[string]string{"start": "9223372036854775800", "count": "100"}, "count"},
		{"source", "sequence", map[string]string{"cout": "5"}, "cout"},

		{"source", "datagen", map[string]string{}, "schema"},
		{"source", "datagen", map[string]string{"schema": ""}, "schema"},
		{"source", "datagen", map[string]string{"schema": "a:nope"}, "schema"},
		{"source", "datagen", map[string]string{"schema": "a"}, "schema"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "rows": "-1"}, "rows"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "seed": "x"}, "seed"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "rate": "-1"}, "rate"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "null-ratio": "1.5"}, "null-ratio"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "null-ratio": "-0.1"}, "null-ratio"},
		{"source", "datagen", map[string]string{"schema": "a:int8", "nullratio": "0.1"}, "nullratio"},

		{"source", "file", map[string]string{}, "path"},
		{"source", "file", map[string]string{"path": missing}, "path"},
		{"source", "file", map[string]string{"path": file, "format": "xml"}, "format"},
		{"source", "file", map[string]string{"path": file, "format": "csv"}, "schema"},
		{"source", "file", map[string]string{"path": file, "format": "jsonl"}, "schema"},
		{"source", "file", map[string]string{"path": file, "format": "jsonl", "schema": "a:int99"}, "schema"},
		{"source", "file", map[string]string{"path": file, "format": "csv", "schema": "a:timestamp[s, Nowhere/Land]"}, "schema"},
		{"source", "file", map[string]string{"path": file, "schema": "a:int64"}, "schema"},
		{"source", "file", map[string]string{"path": file, "format": "jsonl", "schema": "a:int64", "header": "true"}, "header"},
		{"source", "file", map[string]string{"path": file, "format": "csv", "schema": "a:int64", "header": "yes"}, "header"},

		{"sink", "file", map[string]string{}, "path"},
		{"sink", "file", map[string]string{"path": file}, "path"},
		{"sink", "file", map[string]string{"path": dir, "format": "parquet"}, "format"},
		{"sink", "file", map[string]string{"path": dir, "format": "lines"}, "format"},
		{"sink", "file", map[string]string{"path": dir, "rolling-rows": "0"}, "rolling-rows"},
		{"sink", "file", map[string]string{"path": dir, "rolling-rows": "-3"}, "rolling-rows"},
		{"sink", "file", map[string]string{"path": dir, "header": "true"}, "header"},
		{"sink", "file", map[string]string{"path": dir, "format": "csv", "header": "1x"}, "header"},
		{"sink", "print", map[string]string{"prefx": "a"}, "prefx"},
		{"sink", "blackhole", map[string]string{"rows": "1"}, "rows"},
	}
	for _, tt := range tests {
		t.Run(tt.kind+"/"+tt.name+"/"+tt.want, func(t *testing.T) {
			var err error
			if tt.kind == "source" {
				_, err = NewSource(tt.name, tt.params, Options{})
			} else {
				_, err = NewSink(tt.name, tt.params, Options{})
			}
			if err == nil {
				t.Fatalf("%v: no error", tt.params)
			}
			if !errors.Is(err, ErrParams) {
				t.Errorf("error %q does not wrap ErrParams", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
			if v, ok := tt.params[tt.want]; ok && v != "" && !strings.Contains(err.Error(), v) {
				t.Errorf("error %q does not show the value %q", err, v)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	s, err := NewSequence(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.keys != 1 || s.count != 1000 || s.start != 1 || s.rate != 0 || s.unbounded {
		t.Errorf("sequence defaults %+v", s)
	}
	d, err := NewDatagen(map[string]string{"schema": "a:int8"})
	if err != nil {
		t.Fatal(err)
	}
	if d.rows != -1 || d.seed != 0 || d.nullRatio != 0 {
		t.Errorf("datagen defaults %+v", d)
	}
	f, err := NewFileSink(map[string]string{"path": t.TempDir()}, FileAccess{})
	if err != nil {
		t.Fatal(err)
	}
	if f.format != "jsonl" || f.header || f.rollingRows != 0 {
		t.Errorf("file sink defaults %+v", f)
	}
}
