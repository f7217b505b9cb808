package artifact

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPutGetListDelete(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, 1024, 0)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1700000000, 0)
	s.now = func() time.Time { clock = clock.Add(time.Second); return clock }

	names := []struct{ name, shown string }{
		{"job.wasm", "job.wasm"},
		{"../../etc/passwd", "passwd"},
		{"/abs/path/x.wasm", "x.wasm"},
		{"..\\..\\win.wasm", "win.wasm"},
		{"%2e%2e%2fencoded.wasm", "%2e%2e%2fencoded.wasm"},
		{"nul\x00byte.wasm", "nulbyte.wasm"},
		{"..", ""},
	}
	var ids []string
	for i, n := range names {
		body := []byte(strings.Repeat("x", i+1))
		info, err := s.Put(bytes.NewReader(body), n.name)
		if err != nil {
			t.Fatalf("%q: %v", n.name, err)
		}
		if info.Name != n.shown || info.Size != int64(len(body)) || !idPattern.MatchString(info.ID) {
			t.Fatalf("%q stored as %+v", n.name, info)
		}
		got, err := s.Bytes(info.ID)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%q: read back %q, %v", n.name, got, err)
		}
		ids = append(ids, info.ID)
	}
	// Nothing but <sha256>.wasm/.json files in the store, whatever the names.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		base := strings.TrimSuffix(strings.TrimSuffix(e.Name(), ".wasm"), ".json")
		if !idPattern.MatchString(base) {
			t.Fatalf("unexpected file %q in the store", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "etc")); err == nil {
		t.Fatal("an upload escaped the store")
	}
	list, err := s.List()
	if err != nil || len(list) != len(names) || list[0].ID != ids[len(ids)-1] {
		t.Fatalf("list: %v %v", list, err)
	}
	// The same bytes again: stored once, first upload kept.
	again, err := s.Put(strings.NewReader("x"), "other.wasm")
	if err != nil || again.ID != ids[0] || again.Name != "job.wasm" {
		t.Fatalf("re-upload: %+v %v", again, err)
	}
	if err := s.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestRefuses(t *testing.T) {
	s, err := Open(t.TempDir(), 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(strings.NewReader(strings.Repeat("y", 17)), "big.wasm"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("17 bytes over a 16-byte limit: %v", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Fatalf("a refused upload was stored: %v", list)
	}
	if entries, _ := os.ReadDir(s.dir); len(entries) != 0 {
		t.Fatalf("leftover files: %v", entries)
	}
	for _, id := range []string{"", "../x", "..%2f..%2fetc", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 64) + "/../x", "/etc/passwd"} {
		if _, err := s.Bytes(id); !errors.Is(err, ErrBadID) {
			t.Errorf("id %q: %v", id, err)
		}
		if err := s.Delete(id); !errors.Is(err, ErrBadID) {
			t.Errorf("delete %q: %v", id, err)
		}
	}
	if _, err := s.Info(strings.Repeat("a", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

func TestStoreFull(t *testing.T) {
	s, err := Open(t.TempDir(), 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b"} {
		if _, err := s.Put(strings.NewReader(body), body+".wasm"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(strings.NewReader("a"), "again.wasm"); err != nil {
		t.Fatalf("a module already stored is no new artifact: %v", err)
	}
	_, err = s.Put(strings.NewReader("c"), "c.wasm")
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "holds 2 modules") {
		t.Fatalf("a third artifact over a limit of 2: %v", err)
	}
	list, _ := s.List()
	if err := s.Delete(list[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(strings.NewReader("c"), "c.wasm"); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}
