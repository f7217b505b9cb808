package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const verifyArgs = "--keys K --count N [--json] DIR"

// Limits of what a report lists (the counts are always exact).
const (
	verifyMaxRanges   = 8  // seq ranges listed per key
	verifyMaxKeys     = 20 // keys listed per problem in the text summary
	verifyMaxExamples = 10 // example records per problem
	verifyMaxDupSeqs  = 1000
	// verifyMaxUnexpectedKeys bounds the distinct unexpected keys counted.
	verifyMaxUnexpectedKeys = 10000
)

// verifyCommand checks the output of examples/exactlyonce.
func verifyCommand() command {
	return command{"verify", verifyArgs, "check an exactly-once output: every key 0..K-1 has seq 1..N exactly once with count == seq", runVerify}
}

// verifyReport is what weir verify finds in a directory of committed part
// files of (key, seq, count) JSON Lines records.
type verifyReport struct {
	Dir   string `json:"dir"`
	Keys  int    `json:"keys"`
	Count int    `json:"count"`
	// Files is the number of part files read; Hidden the dot files
	// (in-progress or pending parts) not read.
	Files    int   `json:"files"`
	Hidden   int   `json:"hidden"`
	Records  int64 `json:"records"`
	Expected int64 `json:"expected"`
	// KeysSeen is the number of keys 0..K-1 with at least one record.
	KeysSeen int `json:"keysSeen"`
	// Lost counts the (key, seq) pairs never seen; Duplicated the extra
	// copies (a record seen three times counts two).
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	// CountMismatches counts the records with count != seq.
	CountMismatches int64 `json:"countMismatches"`
	// Unexpected counts the records of a key outside 0..K-1 or a seq
	// outside 1..N; Malformed the lines that are not such a record.
	Unexpected int64 `json:"unexpected"`
	Malformed  int64 `json:"malformed"`

	LostByKey       []keySeqs     `json:"lostByKey,omitempty"`
	DuplicatedByKey []keySeqs     `json:"duplicatedByKey,omitempty"`
	Mismatches      []recordIssue `json:"countMismatchExamples,omitempty"`
	UnexpectedRecs  []recordIssue `json:"unexpectedExamples,omitempty"`
	MalformedLines  []recordIssue `json:"malformedExamples,omitempty"`
	// UnexpectedKeys lists the first distinct keys outside 0..K-1.
	UnexpectedKeys  []int64        `json:"unexpectedKeys,omitempty"`
	OK              bool           `json:"ok"`
	unexpectedKeys  map[int64]bool // all of them, for the count
	dupSeqs         map[int64][]int64
	dupSeqsCaptured int
}

// keySeqs summarises the seqs of one key that were lost or duplicated:
// how many, and the first ranges ("5", "7-12").
type keySeqs struct {
	Key    int64    `json:"key"`
	Count  int64    `json:"count"`
	Ranges []string `json:"ranges"`
	More   bool     `json:"more,omitempty"`
}

// recordIssue is an example of a bad record: where, and what.
type recordIssue struct {
	File  string `json:"file"`
	Line  int64  `json:"line"`
	Key   int64  `json:"key"`
	Seq   int64  `json:"seq"`
	Count int64  `json:"count"`
	Text  string `json:"text,omitempty"` // malformed lines only
}

// verifyDir reads every committed part file under dir (names starting with
// "part-"; dot files and dot directories are skipped) as JSON Lines records
// {"key": int, "seq": int, "count": int} and checks that every key
// 0..keys-1 has every seq 1..count exactly once with count == seq. An error
// means dir could not be read; problems with the records are in the report
// (OK is false). It needs keys×count/8 bytes of memory.
func verifyDir(dir string, keys, count int) (verifyReport, error) {
	r := verifyReport{Dir: dir, Keys: keys, Count: count}
	if keys < 1 || count < 1 {
		return r, fmt.Errorf("verify: keys %d and count %d must be at least 1", keys, count)
	}
	if int64(keys) > math.MaxInt64/int64(count) {
		return r, fmt.Errorf("verify: %d keys × %d records is too many", keys, count)
	}
	r.Expected = int64(keys) * int64(count)
	if fi, err := os.Stat(dir); err != nil {
		return r, fmt.Errorf("verify: %w", err)
	} else if !fi.IsDir() {
		return r, fmt.Errorf("verify: %s is not a directory", dir)
	}
	seen := make([]uint64, (r.Expected+63)/64)
	r.unexpectedKeys = map[int64]bool{}
	r.dupSeqs = map[int64][]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			r.Hidden++
			return nil
		}
		if d.IsDir() || !strings.HasPrefix(name, "part-") {
			return nil
		}
		r.Files++
		return r.readPart(path, seen)
	})
	if err != nil {
		return r, fmt.Errorf("verify: %w", err)
	}
	r.finish(seen)
	return r, nil
}

// readPart reads one part file's records into seen.
func (r *verifyReport) readPart(path string, seen []uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rel, _ := filepath.Rel(r.Dir, path)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var line int64
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec struct{ Key, Seq, Count *int64 }
		if err := json.Unmarshal(text, &rec); err != nil || rec.Key == nil || rec.Seq == nil || rec.Count == nil {
			r.Malformed++
			if len(r.MalformedLines) < verifyMaxExamples {
				r.MalformedLines = append(r.MalformedLines, recordIssue{File: rel, Line: line, Text: truncate(string(text), 80)})
			}
			continue
		}
		r.Records++
		k, s, c := *rec.Key, *rec.Seq, *rec.Count
		issue := recordIssue{File: rel, Line: line, Key: k, Seq: s, Count: c}
		if k < 0 || k >= int64(r.Keys) || s < 1 || s > int64(r.Count) {
			r.Unexpected++
			if (k < 0 || k >= int64(r.Keys)) && len(r.unexpectedKeys) < verifyMaxUnexpectedKeys {
				r.unexpectedKeys[k] = true
			}
			if len(r.UnexpectedRecs) < verifyMaxExamples {
				r.UnexpectedRecs = append(r.UnexpectedRecs, issue)
			}
			continue
		}
		if c != s {
			r.CountMismatches++
			if len(r.Mismatches) < verifyMaxExamples {
				r.Mismatches = append(r.Mismatches, issue)
			}
		}
		i := k*int64(r.Count) + s - 1
		if seen[i/64]&(1<<(i%64)) != 0 {
			r.Duplicated++
			if r.dupSeqsCaptured < verifyMaxDupSeqs {
				r.dupSeqs[k] = append(r.dupSeqs[k], s)
				r.dupSeqsCaptured++
			}
			continue
		}
		seen[i/64] |= 1 << (i % 64)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// finish counts the lost records and summarises per key.
func (r *verifyReport) finish(seen []uint64) {
	n := int64(r.Count)
	for k := range int64(r.Keys) {
		var lost []int64 // first seqs of up to verifyMaxRanges+1 missing runs
		var runEnd []int64
		var missing int64
		for s := int64(1); s <= n; s++ {
			i := k*n + s - 1
			if seen[i/64]&(1<<(i%64)) != 0 {
				continue
			}
			missing++
			if len(runEnd) > 0 && runEnd[len(runEnd)-1] == s-1 {
				runEnd[len(runEnd)-1] = s
			} else if len(lost) <= verifyMaxRanges {
				lost, runEnd = append(lost, s), append(runEnd, s)
			}
		}
		if missing < n {
			r.KeysSeen++
		}
		if missing == 0 {
			continue
		}
		r.Lost += missing
		ks := keySeqs{Key: k, Count: missing}
		for j := range lost {
			if j == verifyMaxRanges {
				ks.More = true
				break
			}
			ks.Ranges = append(ks.Ranges, seqRange(lost[j], runEnd[j]))
		}
		r.LostByKey = append(r.LostByKey, ks)
	}
	keys := make([]int64, 0, len(r.dupSeqs))
	for k := range r.dupSeqs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		seqs := r.dupSeqs[k]
		slices.Sort(seqs)
		ks := keySeqs{Key: k, Count: int64(len(seqs))}
		for i := 0; i < len(seqs); {
			j := i
			for j+1 < len(seqs) && seqs[j+1] <= seqs[j]+1 {
				j++
			}
			if len(ks.Ranges) == verifyMaxRanges {
				ks.More = true
				break
			}
			ks.Ranges = append(ks.Ranges, seqRange(seqs[i], seqs[j]))
			i = j + 1
		}
		r.DuplicatedByKey = append(r.DuplicatedByKey, ks)
	}
	if r.dupSeqsCaptured < int(min(r.Duplicated, math.MaxInt32)) {
		// Keys of the uncaptured duplicates are unknown: say so.
		r.DuplicatedByKey = append(r.DuplicatedByKey, keySeqs{Key: -1, Count: r.Duplicated - int64(r.dupSeqsCaptured), More: true})
	}
	for k := range r.unexpectedKeys {
		r.UnexpectedKeys = append(r.UnexpectedKeys, k)
	}
	slices.Sort(r.UnexpectedKeys)
	if len(r.UnexpectedKeys) > verifyMaxExamples {
		r.UnexpectedKeys = r.UnexpectedKeys[:verifyMaxExamples]
	}
	r.OK = r.Lost == 0 && r.Duplicated == 0 && r.CountMismatches == 0 && r.Unexpected == 0 && r.Malformed == 0
}

func seqRange(a, b int64) string {
	if a == b {
		return strconv.FormatInt(a, 10)
	}
	return fmt.Sprintf("%d-%d", a, b)
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// print writes the report as a summary for people.
func (r *verifyReport) print(w io.Writer) {
	fmt.Fprintf(w, "verify %s: %d keys × %d records = %d expected\n", r.Dir, r.Keys, r.Count, r.Expected)
	fmt.Fprintf(w, "  files       %d part files read (%d dot files skipped)\n", r.Files, r.Hidden)
	fmt.Fprintf(w, "  records     %d\n", r.Records)
	fmt.Fprintf(w, "  keys        %d of %d\n", r.KeysSeen, r.Keys)
	fmt.Fprintf(w, "  lost        %d\n", r.Lost)
	fmt.Fprintf(w, "  duplicated  %d\n", r.Duplicated)
	fmt.Fprintf(w, "  count≠seq   %d\n", r.CountMismatches)
	fmt.Fprintf(w, "  unexpected  %d\n", r.Unexpected)
	if r.Malformed > 0 {
		fmt.Fprintf(w, "  malformed   %d\n", r.Malformed)
	}
	printKeys := func(title string, list []keySeqs) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for i, ks := range list {
			if i == verifyMaxKeys {
				fmt.Fprintf(w, "  ... and %d more keys\n", len(list)-i)
				break
			}
			more := ""
			if ks.More {
				more = ", ..."
			}
			if ks.Key < 0 {
				fmt.Fprintf(w, "  %d more not listed\n", ks.Count)
				continue
			}
			fmt.Fprintf(w, "  key %d: %s: %s%s\n", ks.Key, plural(ks.Count, "seq"), strings.Join(ks.Ranges, ", "), more)
		}
	}
	printKeys("lost", r.LostByKey)
	printKeys("duplicated", r.DuplicatedByKey)
	printIssues := func(title string, list []recordIssue, total int64) {
		if total == 0 {
			return
		}
		if int64(len(list)) < total {
			fmt.Fprintf(w, "%s (%d, the first %d):\n", title, total, len(list))
		} else {
			fmt.Fprintf(w, "%s (%d):\n", title, total)
		}
		for _, is := range list {
			if is.Text != "" {
				fmt.Fprintf(w, "  %s:%d: %s\n", is.File, is.Line, is.Text)
				continue
			}
			fmt.Fprintf(w, "  %s:%d: key %d seq %d count %d\n", is.File, is.Line, is.Key, is.Seq, is.Count)
		}
	}
	printIssues("count != seq", r.Mismatches, r.CountMismatches)
	printIssues("unexpected records", r.UnexpectedRecs, r.Unexpected)
	if len(r.UnexpectedKeys) > 0 {
		keys := make([]string, len(r.UnexpectedKeys))
		for i, k := range r.UnexpectedKeys {
			keys[i] = strconv.FormatInt(k, 10)
		}
		fmt.Fprintf(w, "unexpected keys (%d): %s\n", len(r.unexpectedKeys), strings.Join(keys, ", "))
	}
	printIssues("malformed lines", r.MalformedLines, r.Malformed)
	if r.OK {
		fmt.Fprintf(w, "OK: every key has seq 1..%d exactly once, with count == seq\n", r.Count)
	} else {
		fmt.Fprintln(w, "FAILED")
	}
}

func runVerify(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keys := fs.Int("keys", 0, "number of keys K: keys 0..K-1 (required)")
	count := fs.Int("count", 0, "records per key N: seqs 1..N (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseInterspersed(fs, verifyArgs, args, clientIOFrom(ctx).stderr)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return fmt.Errorf("%w: want exactly one directory, got %d arguments", errUsage, len(pos))
	case *keys < 1 || *count < 1:
		return fmt.Errorf("%w: --keys and --count must be at least 1", errUsage)
	}
	r, err := verifyDir(pos[0], *keys, *count)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		r.print(w)
	}
	if !r.OK {
		return errFailed
	}
	return nil
}
