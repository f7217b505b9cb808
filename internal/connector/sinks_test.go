package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/weirflow/weir/arrow/batch"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// genRecords returns datagen batches of schema (the caller releases them).
func genRecords(t *testing.T, alloc memory.Allocator, schema string, rows, batchRows int, nullRatio string) []arrow.Record {
	t.Helper()
	src, err := NewDatagen(map[string]string{"schema": schema, "rows": fmt.Sprint(rows), "seed": "7", "null-ratio": nullRatio})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc, BatchRows: batchRows}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var recs []arrow.Record
	for {
		rec, err := src.Next(context.Background())
		if err != nil {
			return recs
		}
		recs = append(recs, rec)
	}
}

func sortedRows(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%q", r)
	}
	sort.Strings(out)
	return out
}

func TestFileSinkRoundTrip(t *testing.T) {
	tests := []struct {
		format, header, rolling string
		subtask, p              int
		wantParts               int
	}{
		{format: "jsonl", rolling: "", p: 1, wantParts: 1},
		{format: "jsonl", rolling: "37", subtask: 2, p: 3, wantParts: 6}, // 200 rows
		{format: "csv", rolling: "", p: 1, wantParts: 1},
		{format: "csv", header: "true", rolling: "100", p: 2, subtask: 1, wantParts: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s,header=%s,rolling=%s", tt.format, tt.header, tt.rolling), func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "out", "nested")
			params := map[string]string{"path": dir, "format": tt.format}
			if tt.header != "" {
				params["header"] = tt.header
			}
			if tt.rolling != "" {
				params["rolling-rows"] = tt.rolling
			}
			sink, err := NewSink("file", params, Options{})
			if err != nil {
				t.Fatal(err)
			}
			schema, err := batch.ParseSchema(allTypes)
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Open(ctx, Context{Subtask: tt.subtask, Parallelism: tt.p}, schema); err != nil {
				t.Fatal(err)
			}
			recs := genRecords(t, alloc, allTypes, 200, 64, "0.1")
			var want [][]string
			for _, rec := range recs {
				if err := sink.Write(ctx, rec); err != nil {
					t.Fatal(err)
				}
				want = append(want, rowsOf(rec)...)
				rec.Release()
			}
			for _, name := range listDir(t, dir) {
				if !strings.HasPrefix(name, "part-") && !strings.HasPrefix(name, ".part-") {
					t.Errorf("unexpected file %q", name)
				}
			}
			if err := sink.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			names := listDir(t, dir)
			if len(names) != tt.wantParts {
				t.Errorf("files %v, want %d parts", names, tt.wantParts)
			}
			for _, name := range names {
				if !strings.HasPrefix(name, fmt.Sprintf("part-%d-", tt.subtask)) || !strings.HasSuffix(name, "."+tt.format) {
					t.Errorf("file %q is not part-%d-<n>.%s", name, tt.subtask, tt.format)
				}
			}
			srcParams := map[string]string{"path": dir, "format": tt.format, "schema": allTypes}
			if tt.header != "" {
				srcParams["header"] = tt.header
			}
			src, err := NewSource("file", srcParams, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := drain(t, src, Context{Parallelism: 1, Alloc: alloc, BatchRows: 50})
			if len(got) != len(want) {
				t.Fatalf("read back %d rows, want %d", len(got), len(want))
			}
			g, w := sortedRows(got), sortedRows(want)
			for i := range g {
				if g[i] != w[i] {
					t.Fatalf("row mismatch:\n got %s\nwant %s", g[i], w[i])
				}
			}
		})
	}
}

func TestFileSinkInProgress(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	dir := t.TempDir()
	sink, err := NewFileSink(map[string]string{"path": dir, "rolling-rows": "10"}, FileAccess{})
	if err != nil {
		t.Fatal(err)
	}
	schema := sequenceSchema
	if err := sink.Open(ctx, Context{Subtask: 1, Parallelism: 2}, schema); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("files before any row: %v", names)
	}
	recs := genSeq(t, alloc, 25)
	for _, rec := range recs {
		if err := sink.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	want := []string{".part-1-2.jsonl.inprogress", "part-1-0.jsonl", "part-1-1.jsonl"}
	if got := listDir(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files after 25 rows %v, want %v", got, want)
	}
	if ip := sink.InProgress(); filepath.Base(ip) != ".part-1-2.jsonl.inprogress" {
		t.Errorf("InProgress %q", ip)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "part-1-1.jsonl"))
	if lines := strings.Count(string(data), "\n"); lines != 10 {
		t.Errorf("part-1-1 has %d lines, want 10", lines)
	}
	if !strings.HasPrefix(string(data), `{"key":0,"seq":11}`+"\n") {
		t.Errorf("part-1-1 starts %q", data[:min(len(data), 30)])
	}
	// Close without Finish: the last part stays in progress.
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files after Close %v, want %v", got, want)
	}
	data, _ = os.ReadFile(filepath.Join(dir, ".part-1-2.jsonl.inprogress"))
	if lines := strings.Count(string(data), "\n"); lines != 5 {
		t.Errorf("in-progress part has %d lines after Close, want 5 (flushed)", lines)
	}
}

func TestFileSinkCloseWithoutFinish(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := context.Background()
			dir := t.TempDir()
			sink, err := NewSink("file", map[string]string{"path": dir, "format": format}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := sink.Open(ctx, Context{Parallelism: 1}, sequenceSchema); err != nil {
				t.Fatal(err)
			}
			for _, rec := range genSeq(t, alloc, 5) {
				if err := sink.Write(ctx, rec); err != nil {
					t.Fatal(err)
				}
				rec.Release()
			}
			if err := sink.Close(); err != nil {
				t.Fatal(err)
			}
			for _, name := range listDir(t, dir) {
				if !strings.HasPrefix(name, ".") {
					t.Errorf("file %q after Close without Finish", name)
				}
			}
		})
	}
}

// A restarted attempt of a job removes what its subtask wrote before, and
// leaves other subtasks and other jobs alone.
func TestFileSinkRestartedAttempt(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(job string, subtask, attempt, rows int, finish bool) {
		t.Helper()
		sink, err := NewSink("file", map[string]string{"path": dir}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := sink.Open(ctx, Context{Subtask: subtask, Parallelism: 2, Job: job, Attempt: attempt}, sequenceSchema); err != nil {
			t.Fatal(err)
		}
		for _, rec := range genSeq(t, alloc, rows) {
			if err := sink.Write(ctx, rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
		}
		if finish {
			if err := sink.Finish(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
	write("j1", 0, 0, 3, true)  // finished before the failure
	write("j1", 1, 0, 3, false) // in progress at the failure
	write("j2", 0, 0, 2, true)  // another job
	write("j1", 0, 1, 4, true)
	write("j1", 1, 1, 4, true)
	got := strings.Join(listDir(t, dir), " ")
	want := "part-j1-0-1-0.jsonl part-j1-1-1-0.jsonl part-j2-0-0-0.jsonl"
	if got != want {
		t.Fatalf("files %q, want %q", got, want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "part-j1-0-1-0.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 4 {
		t.Errorf("part-j1-0-1-0 has %d lines, want the 4 of attempt 1", n)
	}
}

func TestFileSinkNoRows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink, _ := NewFileSink(map[string]string{"path": dir}, FileAccess{})
	if err := sink.Open(ctx, Context{Parallelism: 1}, sequenceSchema); err != nil {
		t.Fatal(err)
	}
	if err := sink.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	_ = sink.Close()
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("files %v, want none", names)
	}
}

// genSeq returns a one-key sequence 1..n in batches of 4 (the caller
// releases them).
func genSeq(t *testing.T, alloc memory.Allocator, n int) []arrow.Record {
	t.Helper()
	src, err := NewSequence(map[string]string{"count": fmt.Sprint(n)})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(context.Background(), Context{Parallelism: 1, Alloc: alloc, BatchRows: 4}); err != nil {
		t.Fatal(err)
	}
	var recs []arrow.Record
	for {
		rec, err := src.Next(context.Background())
		if err != nil {
			return recs
		}
		recs = append(recs, rec)
	}
}

// valuesRecord builds a one-row record of edge-case values (the caller
// releases it).
func valuesRecord(t *testing.T, alloc memory.Allocator) arrow.Record {
	t.Helper()
	schema, err := batch.ParseSchema("word:utf8,count:int64,f:float64,nan:float64,g:float32,u:uint64,bin:binary,d:date32,ts:timestamp[ms],tz:timestamp[s, +05:30],n:int32,b:bool")
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append("the \"quoted\"\n\x01 é")
	b.Field(1).(*array.Int64Builder).Append(13)
	b.Field(2).(*array.Float64Builder).Append(1e-7)
	b.Field(3).(*array.Float64Builder).Append(math.NaN())
	b.Field(4).(*array.Float32Builder).Append(0.1)
	b.Field(5).(*array.Uint64Builder).Append(math.MaxUint64)
	b.Field(6).(*array.BinaryBuilder).Append([]byte("hi"))
	b.Field(7).(*array.Date32Builder).Append(arrow.Date32FromTime(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)))
	b.Field(8).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli() + 5))
	b.Field(9).(*array.TimestampBuilder).Append(arrow.Timestamp(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC).Unix()))
	b.Field(10).AppendNull()
	b.Field(11).(*array.BooleanBuilder).Append(true)
	return b.NewRecord()
}

func TestJSONEncoding(t *testing.T) {
	alloc := newAlloc(t)
	rec := valuesRecord(t, alloc)
	defer rec.Release()
	locs, err := zones(rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	got := string(jsonRow(nil, rec, 0, locs, ""))
	want := `{"word":"the \"quoted\"\n\u0001 é","count":13,"f":1e-7,"nan":null,"g":0.1,"u":18446744073709551615,` +
		`"bin":"aGk=","d":"2024-02-29","ts":"2024-01-01T12:00:00.005Z","tz":"2024-01-01T17:30:00+05:30","n":null,"b":true}`
	if got != want {
		t.Errorf("json\n got %s\nwant %s", got, want)
	}
	for _, tt := range []struct {
		f    float64
		bits int
		want string
	}{{0, 64, "0"}, {-0.5, 64, "-0.5"}, {1e21, 64, "1e+21"}, {123456789, 64, "123456789"}, {1e-9, 64, "1e-9"},
		{math.Inf(1), 64, "null"}, {float64(float32(3.14)), 32, "3.14"}, {1e20, 64, "100000000000000000000"}} {
		if got := string(appendJSONFloat(nil, tt.f, tt.bits)); got != tt.want {
			t.Errorf("float %v/%d: %s, want %s", tt.f, tt.bits, got, tt.want)
		}
	}
	if got := string(appendJSONString(nil, "a\xffb\u2028")); got != `"a\ufffdb\u2028"` {
		t.Errorf("string escaping %s", got)
	}
}

func TestPrintSink(t *testing.T) {
	tests := []struct {
		prefix     string
		subtask, p int
		wantPrefix string
	}{
		{p: 1, wantPrefix: ""},
		{subtask: 1, p: 2, wantPrefix: "2> "},
		{prefix: "out", p: 1, wantPrefix: "out> "},
		{prefix: "out", subtask: 2, p: 3, wantPrefix: "out:3> "},
	}
	for _, tt := range tests {
		t.Run(tt.wantPrefix, func(t *testing.T) {
			alloc := newAlloc(t)
			ctx := context.Background()
			params := map[string]string{}
			if tt.prefix != "" {
				params["prefix"] = tt.prefix
			}
			sink, err := NewPrint(params)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			sink.Out = &out
			schema := arrow.NewSchema([]arrow.Field{{Name: "word", Type: arrow.BinaryTypes.String, Nullable: true}, {Name: "count", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
			if err := sink.Open(ctx, Context{Subtask: tt.subtask, Parallelism: tt.p}, schema); err != nil {
				t.Fatal(err)
			}
			b := array.NewRecordBuilder(alloc, schema)
			b.Field(0).(*array.StringBuilder).AppendValues([]string{"the", ""}, []bool{true, false})
			b.Field(1).(*array.Int64Builder).AppendValues([]int64{13, 2}, nil)
			rec := b.NewRecord()
			b.Release()
			if err := sink.Write(ctx, rec); err != nil {
				t.Fatal(err)
			}
			rec.Release()
			if err := sink.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			_ = sink.Close()
			want := tt.wantPrefix + `{"word": "the", "count": 13}` + "\n" + tt.wantPrefix + `{"word": null, "count": 2}` + "\n"
			if out.String() != want {
				t.Errorf("printed\n%q\nwant\n%q", out.String(), want)
			}
		})
	}
}

func TestPrintDefaultOutput(t *testing.T) {
	alloc := newAlloc(t)
	var out bytes.Buffer
	old := PrintOutput
	PrintOutput = &out
	defer func() { PrintOutput = old }()
	sink, err := NewSink("print", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Open(context.Background(), Context{Parallelism: 1}, sequenceSchema); err != nil {
		t.Fatal(err)
	}
	for _, rec := range genSeq(t, alloc, 2) {
		if err := sink.Write(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if want := "{\"key\": 0, \"seq\": 1}\n{\"key\": 0, \"seq\": 2}\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

func TestBlackhole(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	sink, err := NewSink("blackhole", map[string]string{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Open(ctx, Context{Parallelism: 1}, sequenceSchema); err != nil {
		t.Fatal(err)
	}
	for _, rec := range genSeq(t, alloc, 10) { // batches of 4, 4, 2
		if err := sink.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := sink.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	_ = sink.Close()
	bh := sink.(*BlackholeSink)
	if bh.Rows() != 10 || bh.Batches() != 3 {
		t.Errorf("rows %d batches %d, want 10 and 3", bh.Rows(), bh.Batches())
	}
}

// A rate-limited blackhole takes rows no faster than its rate: with a fake
// clock, 1000 rows at 100 rows/s take at least 9.9 s (a burst of a tenth of
// a second is allowed up front).
func TestBlackholeRate(t *testing.T) {
	alloc := newAlloc(t)
	ctx := context.Background()
	sink, err := NewBlackhole(map[string]string{"rate": "100"})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	sink.Clock = clock
	start := clock.Now()
	if err := sink.Open(ctx, Context{Parallelism: 1}, sequenceSchema); err != nil {
		t.Fatal(err)
	}
	for _, rec := range genSeq(t, alloc, 1000) {
		if err := sink.Write(ctx, rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if took := clock.Now().Sub(start); took < 9900*time.Millisecond || took > 11*time.Second {
		t.Errorf("1000 rows at 100/s took %s of fake time", took)
	}
	if sink.Rows() != 1000 {
		t.Errorf("rows %d", sink.Rows())
	}
	if _, err := NewBlackhole(map[string]string{"rate": "-1"}); !errors.Is(err, ErrParams) {
		t.Errorf("negative rate: %v", err)
	}
}
