package main

import (
	"reflect"
	"strings"
	"testing"

	weir "github.com/weirflow/weir/sdk/go"
)

func TestWords(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"", nil},
		{"   ,;!", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"it's 42nd-street", []string{"it", "s", "nd", "street"}},
		{"Café CRÈME brûlée", []string{"café", "crème", "brûlée"}},
		{"ÉCOLE über", []string{"école", "über"}},
		{"naïve—résumé", []string{"naïve", "résumé"}},
		{"日本語 text", []string{"日本語", "text"}},
		{"a\tb\nc", []string{"a", "b", "c"}},
		{"\xff\xfeabc", []string{"abc"}},
	}
	for _, tt := range tests {
		if got := Words(tt.line); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Words(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestTokenizeAndCount(t *testing.T) {
	in := weir.NewBuilder(weir.Schema{{Name: "line", Type: weir.Utf8}})
	for _, l := range []string{"The cat", "the CAT sat", "", "café"} {
		in.Utf8(0).Append(l)
	}
	in.Utf8(0).AppendNull()
	batch, _ := in.Batch()

	op := &weir.Operator{Name: "tokenize", Input: batch.Schema()}
	fn, err := openTokenize(op)
	if err != nil {
		t.Fatal(err)
	}
	words := weir.NewBuilder(op.Output)
	if err := fn(batch, words); err != nil {
		t.Fatal(err)
	}
	wb, _ := words.Batch()
	var got []string
	for i := range wb.Len() {
		got = append(got, wb.Utf8(0).Value(i))
	}
	if strings.Join(got, " ") != "the cat the cat sat café" {
		t.Fatalf("words %q", got)
	}

	// Count, with the state table the host would pass: one row per distinct key.
	cop := &weir.Operator{Name: "count", Input: op.Output}
	cfn, err := openCount(cop)
	if err != nil {
		t.Fatal(err)
	}
	keys := []int32{0, 1, 0, 1, 2, 3}
	state := weir.NewTable(cop.State, 4)
	out := weir.NewBuilder(cop.Output)
	if err := cfn(wb, keys, state, out); err != nil {
		t.Fatal(err)
	}
	ob, _ := out.Batch()
	if got := ob.Int64(1).Values(); !reflect.DeepEqual(got, []int64{1, 1, 2, 2, 1, 1}) {
		t.Errorf("counts %v", got)
	}
	if got := state.Int64(0); !reflect.DeepEqual(got, []int64{2, 2, 1, 1}) {
		t.Errorf("state %v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := openTokenize(&weir.Operator{Name: "tokenize", Input: weir.Schema{{Name: "text", Type: weir.Utf8}}})
	if err == nil || !strings.Contains(err.Error(), `no column "line"`) {
		t.Errorf("tokenize without line: %v", err)
	}
	_, err = openCount(&weir.Operator{Name: "count", Input: weir.Schema{{Name: "word", Type: weir.Int64}}})
	if err == nil || !strings.Contains(err.Error(), `column "word" is int64, want utf8`) {
		t.Errorf("count over int64: %v", err)
	}
}

func TestPlan(t *testing.T) {
	js, err := weir.BuildPlan([]string{"--input", "book.txt", "--output", "counts"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"weir_plan":1,"name":"wordcount","parallelism":1,"nodes":[` +
		`{"id":"lines","kind":"source","connector":"file","params":{"format":"lines","path":"book.txt"},"parallelism":1},` +
		`{"id":"words","kind":"flatmap","function":"tokenize","inputs":["lines"]},` +
		`{"id":"counts","kind":"process","function":"count","inputs":["words"],"keyBy":["word"]},` +
		`{"id":"out","kind":"sink","connector":"file","params":{"format":"jsonl","path":"counts"},"inputs":["counts"]}]}`
	if string(js) != want {
		t.Errorf("plan\n got %s\nwant %s", js, want)
	}
	if _, err := weir.BuildPlan(nil); err == nil || !strings.Contains(err.Error(), "--input") {
		t.Errorf("plan without --input: %v", err)
	}
}
