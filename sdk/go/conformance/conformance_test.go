package main

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	weir "github.com/weirflow/weir/sdk/go"
)

// Native checks of the vectorised helpers against naive versions.

func naiveUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestUpperASCII(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	alphabet := []byte("aAzZ`{@[09 ~\x7f\x80\xc3\xa9\xff-mM")
	for n := 0; n < 100; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.Intn(len(alphabet))]
		}
		want := naiveUpper(string(b))
		upperASCII(b)
		if string(b) != want {
			t.Fatalf("upperASCII = %q, want %q", b, want)
		}
	}
	for c := 0; c < 256; c++ {
		b := []byte{byte(c), byte(c), byte(c), byte(c), byte(c), byte(c), byte(c), byte(c), byte(c)}
		upperASCII(b)
		if want := naiveUpper(string([]byte{byte(c)})); string(b[:1]) != want || string(b[8:]) != want {
			t.Fatalf("byte %#x -> %#x / %#x, want %q", c, b[0], b[8], want)
		}
	}
}

func naiveWords(line string) []string {
	var out []string
	w := ""
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			w += string(c | 0x20)
			continue
		}
		if w != "" {
			out = append(out, w)
			w = ""
		}
	}
	if w != "" {
		out = append(out, w)
	}
	return out
}

func TestTokenize(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	alphabet := []byte("abcXYZ ,.-'9\xc3\xa9")
	in := weir.NewBuilder(weir.Schema{{Name: "line", Type: weir.Utf8}})
	var want []string
	for i := 0; i < 300; i++ {
		if i%17 == 3 {
			in.Utf8(0).AppendNull()
			continue
		}
		b := make([]byte, r.Intn(30))
		for k := range b {
			b[k] = alphabet[r.Intn(len(alphabet))]
		}
		in.Utf8(0).AppendBytes(b)
		want = append(want, naiveWords(string(b))...)
	}
	batch, _ := in.Batch()
	out := weir.NewBuilder(weir.Schema{{Name: "word", Type: weir.Utf8}})
	out.Utf8(0).Append("before")
	tokenize(batch.Utf8(0), out.Utf8(0))
	ob, err := out.Batch()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 1; i < ob.Len(); i++ {
		got = append(got, ob.Utf8(0).Value(i))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("tokenize:\n got %q\nwant %q", got, want)
	}
	if ob.Utf8(0).Value(0) != "before" || strings.Join(got, "") == "" {
		t.Error("tokenize overwrote earlier values or found nothing")
	}
}

func TestSumAdd(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	// nullEvery 3 takes the masked path, 40 the add-then-subtract one.
	for _, nullEvery := range []int{0, 3, 40} {
		b := weir.NewBuilder(weir.Schema{{Name: "x", Type: weir.Int64}})
		groups := make([]int32, 500)
		wantS, wantN := make([]int64, 7), make([]int64, 7)
		for i := range groups {
			groups[i] = int32(r.Intn(7))
			v := r.Int63n(1000) - 500
			if nullEvery > 0 && i%nullEvery == 1 {
				b.Int64(0).AppendNull()
				continue
			}
			b.Int64(0).Append(v)
			wantS[groups[i]] += v
			wantN[groups[i]]++
		}
		batch, _ := b.Batch()
		col := batch.Int64(0)
		sums, ns := make([]int64, 7), make([]int64, 7)
		if col.NullCount() == 0 {
			addAll(sums, ns, col.Values(), groups)
		} else {
			addValid(sums, ns, col.Values(), col.Validity(), groups)
		}
		if !reflect.DeepEqual(sums, wantS) || !reflect.DeepEqual(ns, wantN) {
			t.Errorf("nullEvery %d: sums %v n %v, want %v %v", nullEvery, sums, ns, wantS, wantN)
		}
	}
}

func TestPlan(t *testing.T) {
	js, err := weir.BuildPlan([]string{"--input", "x.jsonl"})
	if err != nil || !strings.Contains(string(js), `"path":"x.jsonl"`) {
		t.Errorf("plan %s, %v", js, err)
	}
}
