// Package artifact stores uploaded job modules content-addressed: a module is
// kept under the hex sha256 of its bytes, never under a name a client chose,
// so no upload can write outside the store (unlike Flink's CVE-2020-17518)
// and the same module uploaded twice is stored once.
package artifact

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sentinel errors.
var (
	ErrTooLarge = errors.New("artifact: upload exceeds the size limit")
	ErrNotFound = errors.New("artifact: no such artifact")
	ErrBadID    = errors.New("artifact: malformed artifact id")
	// ErrFull means an upload while the store holds MaxCount artifacts.
	ErrFull = errors.New("artifact: the store is full")
)

// DefaultMaxSize is the default upload limit (64 MiB), DefaultMaxCount
// the default number of artifacts a store holds.
const (
	DefaultMaxSize  = 64 << 20
	DefaultMaxCount = 1000
)

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Info describes a stored artifact.
type Info struct {
	ID       string    `json:"id"` // the hex sha256 of the bytes
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Uploaded time.Time `json:"uploaded"`
}

// Store keeps artifacts under a directory: <dir>/<id>.wasm and <id>.json.
type Store struct {
	dir      string
	maxSize  int64
	maxCount int
	now      func() time.Time
	// mu makes counting and adding one step, so that concurrent uploads
	// cannot pass maxCount.
	mu sync.Mutex
}

// Open returns a store in dir (created if missing) with an upload limit
// (DefaultMaxSize when maxSize <= 0) and a limit on the number of artifacts
// (DefaultMaxCount when maxCount <= 0).
func Open(dir string, maxSize int64, maxCount int) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if maxCount <= 0 {
		maxCount = DefaultMaxCount
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	return &Store{dir: dir, maxSize: maxSize, maxCount: maxCount, now: time.Now}, nil
}

// MaxSize is the upload limit in bytes.
func (s *Store) MaxSize() int64 { return s.maxSize }

// Put stores what r yields. name is only a display name (its last path
// element, cut to 200 bytes). Reading more than the limit fails with
// ErrTooLarge and stores nothing; a new artifact while the store is full
// fails with ErrFull.
func (s *Store) Put(r io.Reader, name string) (Info, error) {
	tmp, err := os.CreateTemp(s.dir, ".upload-*")
	if err != nil {
		return Info{}, fmt.Errorf("artifact: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return Info{}, fmt.Errorf("artifact: reading the upload: %w", err)
	}
	if n > s.maxSize {
		return Info{}, fmt.Errorf("%w of %d bytes", ErrTooLarge, s.maxSize)
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, fmt.Errorf("artifact: %w", err)
	}
	info := Info{ID: hex.EncodeToString(h.Sum(nil)), Name: displayName(name), Size: n, Uploaded: s.now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, err := s.Info(info.ID); err == nil {
		return old, nil // already stored
	}
	if count, err := s.count(); err != nil {
		return Info{}, err
	} else if count >= s.maxCount {
		return Info{}, fmt.Errorf("%w: it holds %d modules, its limit; delete some (DELETE /wasm/:id)", ErrFull, count)
	}
	if err := os.Rename(tmp.Name(), s.path(info.ID, ".wasm")); err != nil {
		return Info{}, fmt.Errorf("artifact: %w", err)
	}
	meta, _ := json.Marshal(info)
	if err := os.WriteFile(s.path(info.ID, ".json"), meta, 0o644); err != nil {
		return Info{}, fmt.Errorf("artifact: %w", err)
	}
	return info, nil
}

// displayName keeps the last element of a client-supplied file name, without
// control characters, for display only.
func displayName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = filepath.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "/" || name == "." || name == ".." {
		name = ""
	}
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

func (s *Store) path(id, ext string) string { return filepath.Join(s.dir, id+ext) }

func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %q (want 64 lower-case hex digits)", ErrBadID, id)
	}
	return nil
}

// Info returns the artifact's description.
func (s *Store) Info(id string) (Info, error) {
	if err := checkID(id); err != nil {
		return Info{}, err
	}
	b, err := os.ReadFile(s.path(id, ".json"))
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Info{}, fmt.Errorf("artifact: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return Info{}, fmt.Errorf("artifact: metadata of %s: %w", id, err)
	}
	return info, nil
}

// Bytes returns the artifact's bytes.
func (s *Store) Bytes(id string) ([]byte, error) {
	if _, err := s.Info(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.path(id, ".wasm"))
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	return b, nil
}

// List returns every artifact, newest first.
func (s *Store) List() ([]Info, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("artifact: %w", err)
	}
	var out []Info
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || checkID(id) != nil {
			continue
		}
		if info, err := s.Info(id); err == nil {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b Info) int { return b.Uploaded.Compare(a.Uploaded) })
	return out, nil
}

// count is the number of stored artifacts.
func (s *Store) count() (int, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, fmt.Errorf("artifact: %w", err)
	}
	n := 0
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && checkID(id) == nil {
			n++
		}
	}
	return n, nil
}

// Delete removes an artifact.
func (s *Store) Delete(id string) error {
	if _, err := s.Info(id); err != nil {
		return err
	}
	return errors.Join(os.Remove(s.path(id, ".json")), os.Remove(s.path(id, ".wasm")))
}
