package main

import (
	"reflect"
	"strings"
	"testing"

	weir "github.com/weirflow/weir/sdk/go"
)

func TestCount(t *testing.T) {
	in := weir.NewBuilder(weir.Schema{{Name: "key", Type: weir.Int64, NotNull: true}, {Name: "seq", Type: weir.Int64, NotNull: true}})
	// Two batches of keys 7 and 9, seqs in order, as the sequence source
	// sends them; the host gives each distinct key of a batch a state row.
	in.Int64(0).AppendValues([]int64{7, 9, 7, 9, 7})
	in.Int64(1).AppendValues([]int64{1, 1, 2, 2, 3})
	batch, err := in.Batch()
	if err != nil {
		t.Fatal(err)
	}
	op := &weir.Operator{Name: "count", Input: batch.Schema()}
	fn, err := openCount(op)
	if err != nil {
		t.Fatal(err)
	}
	if len(op.Output) != 3 || len(op.State) != 1 {
		t.Fatalf("output %v state %v", op.Output, op.State)
	}
	state := weir.NewTable(op.State, 2)
	out := weir.NewBuilder(op.Output)
	if err := fn(batch, []int32{0, 1, 0, 1, 0}, state, out); err != nil {
		t.Fatal(err)
	}
	ob, err := out.Batch()
	if err != nil {
		t.Fatal(err)
	}
	if got := ob.Int64(0).Values(); !reflect.DeepEqual(got, []int64{7, 9, 7, 9, 7}) {
		t.Errorf("keys %v", got)
	}
	if got, want := ob.Int64(2).Values(), ob.Int64(1).Values(); !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want the seqs %v", got, want)
	}
	if got := state.Int64(0); !reflect.DeepEqual(got, []int64{3, 2}) {
		t.Errorf("state %v", got)
	}

	// The next batch continues from the state (as restored from a
	// checkpoint): key 9 at 2.
	in.Reset()
	in.Int64(0).AppendValues([]int64{9})
	in.Int64(1).AppendValues([]int64{3})
	batch, _ = in.Batch()
	st := weir.NewTable(op.State, 1)
	st.Int64(0)[0] = 2
	out.Reset()
	if err := fn(batch, []int32{0}, st, out); err != nil {
		t.Fatal(err)
	}
	ob, _ = out.Batch()
	if got := ob.Int64(2).Values(); !reflect.DeepEqual(got, []int64{3}) {
		t.Errorf("count after a restored state %v, want [3]", got)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := openCount(&weir.Operator{Name: "count", Input: weir.Schema{{Name: "key", Type: weir.Int64}}})
	if err == nil || !strings.Contains(err.Error(), `no column "seq"`) {
		t.Errorf("count without seq: %v", err)
	}
	_, err = openCount(&weir.Operator{Name: "count", Input: weir.Schema{{Name: "key", Type: weir.Utf8}, {Name: "seq", Type: weir.Int64}}})
	if err == nil || !strings.Contains(err.Error(), `column "key" is utf8, want int64`) {
		t.Errorf("count over utf8 keys: %v", err)
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		args    []string
		want    string // plan JSON
		wantErr string
	}{
		{
			args: []string{"--keys", "4", "--count", "100", "--output", "out"},
			want: `{"weir_plan":1,"name":"exactlyonce","nodes":[` +
				`{"id":"sequence","kind":"source","connector":"sequence","params":{"count":"100","keys":"4"}},` +
				`{"id":"count","kind":"process","function":"count","inputs":["sequence"],"keyBy":["key"]},` +
				`{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"out"},"inputs":["count"]}]}`,
		},
		{
			args: []string{"--keys", "4", "--count", "100", "--rate", "250.5", "--output", "out", "--parallelism", "3", "--checkpoint-interval", "1s"},
			want: `{"weir_plan":1,"name":"exactlyonce","parallelism":3,"config":{"checkpoint.interval":"1s"},"nodes":[` +
				`{"id":"sequence","kind":"source","connector":"sequence","params":{"count":"100","keys":"4","rate":"250.5"}},` +
				`{"id":"count","kind":"process","function":"count","inputs":["sequence"],"keyBy":["key"]},` +
				`{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"out"},"inputs":["count"]}]}`,
		},
		{args: []string{"--count", "1", "--output", "o"}, wantErr: "--keys"},
		{args: []string{"--keys", "1", "--output", "o"}, wantErr: "--count"},
		{args: []string{"--keys", "1", "--count", "1"}, wantErr: "--output"},
		{args: []string{"--keys", "1", "--count", "1", "--output", "o", "extra"}, wantErr: "unexpected argument"},
		{args: []string{"--bogus"}, wantErr: "bogus"},
	}
	for _, tt := range tests {
		js, err := weir.BuildPlan(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if string(js) != tt.want {
			t.Errorf("%q: plan\n got %s\nwant %s", tt.args, js, tt.want)
		}
	}
}
