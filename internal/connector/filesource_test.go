package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles creates files (name -> content) in a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFileSourceRead(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		file   string // under the directory; "" reads the directory
		params map[string]string
		batch  int
		want   [][]string
	}{
		{
			name:  "lines crlf",
			files: map[string]string{"in.txt": "a\r\nb\n\nc c\r\nlast"},
			file:  "in.txt",
			batch: 2,
			want:  [][]string{{"a"}, {"b"}, {""}, {"c c"}, {"last"}},
		},
		{
			name:  "lines trailing newline",
			files: map[string]string{"in.txt": "x\ny\n"},
			file:  "in.txt",
			batch: 10,
			want:  [][]string{{"x"}, {"y"}},
		},
		{
			name:  "long line",
			files: map[string]string{"in.txt": strings.Repeat("z", 200_000) + "\nshort\n"},
			file:  "in.txt",
			batch: 10,
			want:  [][]string{{strings.Repeat("z", 200_000)}, {"short"}},
		},
		{
			name:  "empty file",
			files: map[string]string{"empty.txt": ""},
			file:  "empty.txt",
			batch: 10,
		},
		{
			name: "directory skips hidden files",
			files: map[string]string{
				"b.txt": "b1\nb2\n", "a.txt": "a1\n", ".hidden": "no\n", "_SUCCESS": "", "_tmp.txt": "no\n",
				".part-0-0.jsonl.inprogress": "no\n", "sub/c.txt": "no\n", "c.txt": "c1",
			},
			batch: 2,
			want:  [][]string{{"a1"}, {"b1"}, {"b2"}, {"c1"}},
		},
		{
			name:  "empty directory",
			files: map[string]string{".keep": "x"},
			batch: 2,
		},
		{
			name: "csv quotes header nulls",
			files: map[string]string{"in.csv": "name,age,score,ok\n" +
				`"Smith, J",42,1.5,true` + "\n" +
				`"say ""hi""",,2e3,` + "\n" +
				`"multi` + "\n" + `line",-7,,false` + "\r\n" +
				",1,-0.25,1\n"},
			file:   "in.csv",
			params: map[string]string{"format": "csv", "header": "true", "schema": "name:utf8,age:int32,score:float64,ok:bool"},
			batch:  3,
			want: [][]string{
				{"Smith, J", "42", "1.5", "true"},
				{`say "hi"`, "(null)", "2000", "(null)"},
				{"multi\nline", "-7", "(null)", "false"},
				{"(null)", "1", "-0.25", "true"},
			},
		},
		{
			name:   "csv types",
			files:  map[string]string{"in.csv": "2024-02-29,2024-01-01T12:00:00.5Z,aGk=,18446744073709551615,1e2\n19000,1704110400500,,0,-128\n"},
			file:   "in.csv",
			params: map[string]string{"format": "csv", "schema": "d:date32,ts:timestamp[ms],b:binary,u:uint64,i:int8"},
			batch:  10,
			want: [][]string{
				{"2024-02-29", "2024-01-01 12:00:00.5Z", "aGk=", "18446744073709551615", "100"},
				{"2022-01-08", "2024-01-01 12:00:00.5Z", "(null)", "0", "-128"},
			},
		},
		{
			name: "jsonl",
			files: map[string]string{"in.jsonl": `{"w":"the","n":13,"f":1.5,"ts":"2024-01-01T00:00:01+01:00","extra":[1]}` + "\n" +
				"\n" +
				`{"w":null,"n":1e3,"ts":1704067200}` + "\r\n" +
				`  {"n":-9223372036854775808,"f":2,"b":true,"w":"\u00e9\n"}  ` + "\n"},
			file:   "in.jsonl",
			params: map[string]string{"format": "jsonl", "schema": "w:utf8,n:int64,f:float32,ts:timestamp[s],b:bool"},
			batch:  2,
			want: [][]string{
				{"the", "13", "1.5", "2023-12-31 23:00:01Z", "(null)"},
				{"(null)", "1000", "(null)", "2024-01-01 00:00:00Z", "(null)"},
				{"é\n", "-9223372036854775808", "2", "(null)", "true"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			dir := writeFiles(t, tt.files)
			params := map[string]string{"path": filepath.Join(dir, tt.file)}
			for k, v := range tt.params {
				params[k] = v
			}
			src, err := NewSource("file", params, Options{})
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := drain(t, src, Context{Parallelism: 1, Alloc: alloc, BatchRows: tt.batch})
			if fmt.Sprintf("%q", rows) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("rows\n%q\nwant\n%q", rows, tt.want)
			}
		})
	}
}

func TestFileSourceBadData(t *testing.T) {
	tests := []struct {
		name, content, schema, format, want string
	}{
		{name: "jsonl bad line", format: "jsonl", schema: "a:int64",
			content: "{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":4}\n", want: "in:3: bad JSON"},
		{name: "jsonl not an object", format: "jsonl", schema: "a:int64", content: "\n[1]\n", want: "in:2: not a JSON object"},
		{name: "jsonl int range", format: "jsonl", schema: "a:int8", content: `{"a":300}`, want: `in:1: column "a": "300" is not an int8`},
		{name: "jsonl fraction", format: "jsonl", schema: "a:int32", content: `{"a":1.5}`, want: `in:1: column "a"`},
		{name: "jsonl string for int", format: "jsonl", schema: "a:uint8", content: `{"a":-1}`, want: `is not a uint8`},
		{name: "jsonl number for string", format: "jsonl", schema: "a:utf8", content: `{"a":1}`, want: `does not fit type utf8`},
		{name: "jsonl bad timestamp", format: "jsonl", schema: "a:timestamp[ms]", content: "{}\n{\"a\":\"yesterday\"}", want: `in:2: column "a": "yesterday" is not a timestamp`},
		{name: "csv field count", format: "csv", schema: "a:int64,b:int64", content: "1,2\n3\n", want: "in:2: wrong number of fields"},
		{name: "csv bad int", format: "csv", schema: "a:int64,b:int64", content: "1,2\n3,x\n", want: `in:2: column "b": "x" is not an int64`},
		{name: "csv bad quote", format: "csv", schema: "a:utf8", content: "ok\n\"bad\"x\n", want: "in:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alloc := newAlloc(t)
			dir := writeFiles(t, map[string]string{"in": tt.content})
			src, err := NewFileSource(map[string]string{"path": filepath.Join(dir, "in"), "format": tt.format, "schema": tt.schema}, FileAccess{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := src.Open(ctx, Context{Parallelism: 1, Alloc: alloc, BatchRows: 1}); err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for {
				rec, err := src.Next(ctx)
				if err == nil {
					rec.Release()
					continue
				}
				if errors.Is(err, io.EOF) {
					t.Fatalf("no error, want %q", tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Join(dir, "in")) {
					t.Errorf("error %q, want it to name the file and contain %q", err, tt.want)
				}
				return
			}
		})
	}
}

func TestFileSourceSplit(t *testing.T) {
	files := map[string]string{}
	for i := range 5 {
		files[fmt.Sprintf("f%d", i)] = fmt.Sprintf("%d-a\n%d-b\n", i, i)
	}
	dir := writeFiles(t, files)
	single := writeFiles(t, map[string]string{"one": "x\ny\n"})
	tests := []struct {
		path string
		p    int
		want [][]string // per subtask
	}{
		{dir, 3, [][]string{{"0-a", "0-b", "3-a", "3-b"}, {"1-a", "1-b", "4-a", "4-b"}, {"2-a", "2-b"}}},
		{dir, 1, [][]string{{"0-a", "0-b", "1-a", "1-b", "2-a", "2-b", "3-a", "3-b", "4-a", "4-b"}}},
		{filepath.Join(single, "one"), 3, [][]string{{"x", "y"}, nil, nil}},
		{dir, 6, [][]string{{"0-a", "0-b"}, {"1-a", "1-b"}, {"2-a", "2-b"}, {"3-a", "3-b"}, {"4-a", "4-b"}, nil}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/p=%d", filepath.Base(tt.path), tt.p), func(t *testing.T) {
			alloc := newAlloc(t)
			for sub := range tt.p {
				src, err := NewSource("file", map[string]string{"path": tt.path}, Options{})
				if err != nil {
					t.Fatal(err)
				}
				rows, _ := drain(t, src, Context{Subtask: sub, Parallelism: tt.p, Alloc: alloc, BatchRows: 3})
				var got []string
				for _, r := range rows {
					got = append(got, r[0])
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want[sub]) {
					t.Errorf("subtask %d read %v, want %v", sub, got, tt.want[sub])
				}
			}
		})
	}
}

func TestFileSourcePosition(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.csv": "h\n1\n2\n3\n",
		"b.csv": "h\n4\n\"5\"\n",
		"c.csv": "h\n6\n7\n8\n9\n",
	})
	for _, format := range []string{"csv", "lines"} {
		t.Run(format, func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := context.Background()
			params := map[string]string{"path": dir, "format": format}
			if format == "csv" {
				params["schema"], params["header"] = "x:utf8", "true"
			}
			c := Context{Subtask: 0, Parallelism: 2, Alloc: alloc, BatchRows: 2}
			full, err := NewFileSource(params, FileAccess{})
			if err != nil {
				t.Fatal(err)
			}
			all, _ := drain(t, full, c)
			for cut := 1; cut <= 3; cut++ {
				first, _ := NewFileSource(params, FileAccess{})
				if err := first.Open(ctx, c); err != nil {
					t.Fatal(err)
				}
				var rows [][]string
				for range cut {
					rec, err := first.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					rows = append(rows, rowsOf(rec)...)
					rec.Release()
				}
				pos := first.Position()
				_ = first.Close()
				second, _ := NewFileSource(params, FileAccess{})
				if err := second.Open(ctx, c); err != nil {
					t.Fatal(err)
				}
				if err := second.SetPosition(pos); err != nil {
					t.Fatal(err)
				}
				tail, _ := drainOpen(t, second, c.BatchRows)
				if end := second.Position(); end.File != 3 {
					t.Errorf("position at the end %+v, want file 3", end)
				}
				_ = second.Close()
				if fmt.Sprint(append(rows, tail...)) != fmt.Sprint(all) {
					t.Errorf("cut after %d batches at %+v: %v, want %v", cut, pos, append(rows, tail...), all)
				}
			}
			if format == "csv" && fmt.Sprint(all) != "[[1] [2] [3] [6] [7] [8] [9]]" {
				t.Errorf("csv rows %v", all)
			}
		})
	}
	// A file of another subtask is refused.
	src, _ := NewFileSource(map[string]string{"path": dir}, FileAccess{})
	if err := src.Open(context.Background(), Context{Subtask: 0, Parallelism: 2, BatchRows: 2}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.SetPosition(FilePosition{File: 1}); err == nil {
		t.Error("SetPosition to another subtask's file: no error")
	}
}
