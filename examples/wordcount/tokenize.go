package main

import (
	"unicode"
	"unicode/utf8"
)

// Tokenizer splits text into words: maximal runs of letters (Unicode letters,
// so "café" is one word), lower-cased. Everything else separates words.
// A Tokenizer reuses its buffer; the zero value is ready to use.
type Tokenizer struct {
	buf []byte
}

// Words calls emit for each word of line, in order. The word passed to emit
// is only valid during the call.
func (t *Tokenizer) Words(line []byte, emit func(word []byte)) {
	for i := 0; i < len(line); {
		c := line[i]
		if c < utf8.RuneSelf {
			// ASCII: the common case, no decoding.
			if (c|0x20)-'a' >= 26 {
				i++
				continue
			}
			j := i + 1
			for j < len(line) && (line[j]|0x20)-'a' < 26 {
				j++
			}
			if j == len(line) || line[j] < utf8.RuneSelf {
				t.buf = t.buf[:0]
				for _, c := range line[i:j] {
					t.buf = append(t.buf, c|0x20)
				}
				emit(t.buf)
				i = j
				continue
			}
			// The word goes on with non-ASCII letters: slow path.
		}
		r, size := utf8.DecodeRune(line[i:])
		if !unicode.IsLetter(r) {
			i += size
			continue
		}
		t.buf = t.buf[:0]
		for i < len(line) {
			r, size = utf8.DecodeRune(line[i:])
			if !unicode.IsLetter(r) {
				break
			}
			t.buf = utf8.AppendRune(t.buf, unicode.ToLower(r))
			i += size
		}
		emit(t.buf)
	}
}

// Words returns the words of line (see Tokenizer).
func Words(line string) []string {
	var t Tokenizer
	var out []string
	t.Words([]byte(line), func(w []byte) { out = append(out, string(w)) })
	return out
}
