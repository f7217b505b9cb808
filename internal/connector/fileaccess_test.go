package connector

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
)

// accessTree builds, under a temporary root:
//
//	allowed/in.txt, allowed/sub/
//	allowed/escape      -> outside/          (a link out of the allowed dir)
//	allowed/escape.txt  -> outside/secret.txt
//	allowed/inner       -> allowed/sub       (a link that stays inside)
//	allowed/dangling    -> outside/missing
//	allowed-evil/x.txt                       (shares allowed's name prefix)
//	outside/secret.txt
//	link-to-allowed     -> allowed/
//
// and returns the root with its own links resolved.
func accessTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"allowed/sub", "allowed-evil", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"allowed/in.txt", "allowed-evil/x.txt", "outside/secret.txt"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("a line\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"allowed/escape":     "outside",
		"allowed/escape.txt": "outside/secret.txt",
		"allowed/inner":      "allowed/sub",
		"allowed/dangling":   "outside/missing",
		"link-to-allowed":    "allowed",
	} {
		if err := os.Symlink(filepath.Join(root, target), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFileAccessCheck(t *testing.T) {
	root := accessTree(t)
	at := func(p string) string { return filepath.Join(root, p) }
	allowed := FileAccess{Restricted: true, AllowDirs: []string{at("allowed")}}
	cases := []struct {
		name   string
		access FileAccess
		path   string
		want   string // "" allowed; else in the error
	}{
		{"unrestricted", FileAccess{}, at("outside/secret.txt"), ""},
		{"file inside", allowed, at("allowed/in.txt"), ""},
		{"the allowed dir itself", allowed, at("allowed"), ""},
		{"the allowed dir with a trailing slash", allowed, at("allowed") + "/", ""},
		{"a directory inside", allowed, at("allowed/sub"), ""},
		{"missing sink dir below", allowed, at("allowed/new/out"), ""},
		{"link that stays inside", allowed, at("allowed/inner/x.txt"), ""},
		{"outside", allowed, at("outside/secret.txt"), "is outside the allowed directories " + at("allowed") + " (--allow-dir)"},
		{"parent of the allowed dir", allowed, root, "is outside the allowed directories"},
		{"dot-dot escape", allowed, at("allowed/../outside/secret.txt"), "is outside the allowed directories"},
		{"dot-dot escape of a missing path", allowed, at("allowed/new/../../outside/new"), "is outside the allowed directories"},
		{"name prefix trick", allowed, at("allowed-evil/x.txt"), "is outside the allowed directories"},
		{"name prefix trick, missing", allowed, at("allowed-evil2"), "is outside the allowed directories"},
		{"dir link escaping", allowed, at("allowed/escape/secret.txt"), "resolves to " + at("outside/secret.txt")},
		{"dir link escaping, missing below", allowed, at("allowed/escape/new/out"), "resolves to " + at("outside/new/out")},
		{"file link escaping", allowed, at("allowed/escape.txt"), "resolves to " + at("outside/secret.txt")},
		{"dangling link", allowed, at("allowed/dangling/x"), "symbolic link to a missing target"},
		{"allowed dir given by a link: real path", FileAccess{AllowDirs: []string{at("link-to-allowed")}}, at("allowed/in.txt"), ""},
		{"allowed dir given by a link: link path", FileAccess{AllowDirs: []string{at("link-to-allowed")}}, at("link-to-allowed/in.txt"), ""},
		{"allowed dir given by a link: outside", FileAccess{AllowDirs: []string{at("link-to-allowed")}}, at("outside/secret.txt"), "is outside"},
		{"path through a link to the allowed dir", allowed, at("link-to-allowed/in.txt"), ""},
		{"allow-list without Restricted is on", FileAccess{AllowDirs: []string{at("allowed")}}, at("outside/secret.txt"), "is outside"},
		{"second allowed dir", FileAccess{AllowDirs: []string{at("allowed"), at("outside")}}, at("outside/secret.txt"), ""},
		{"allowed dir not created yet", FileAccess{AllowDirs: []string{at("future")}}, at("future/out"), ""},
		{"allowed dir not created yet: sibling", FileAccess{AllowDirs: []string{at("future")}}, at("future-evil/out"), "is outside"},
		{"restricted with no dirs", FileAccess{Restricted: true}, at("allowed/in.txt"), "file connectors are disabled (file access is restricted and no --allow-dir was given)"},
		{"everything below the root", FileAccess{AllowDirs: []string{"/"}}, at("outside/secret.txt"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.access.Check("path", tc.path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrFileAccess) || !errors.Is(err, ErrParams) {
				t.Fatalf("got %v, want an error wrapping ErrFileAccess and ErrParams", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, `path="`+tc.path+`"`) {
				t.Fatalf("error %q does not name the path and say %q", msg, tc.want)
			}
		})
	}
}

// Relative paths are made absolute against the working directory first.
func TestFileAccessRelative(t *testing.T) {
	root := accessTree(t)
	t.Chdir(filepath.Join(root, "allowed"))
	cases := []struct {
		access FileAccess
		path   string
		ok     bool
	}{
		{FileAccess{AllowDirs: []string{filepath.Join(root, "allowed")}}, "in.txt", true},
		{FileAccess{AllowDirs: []string{filepath.Join(root, "allowed")}}, "./sub/new", true},
		{FileAccess{AllowDirs: []string{filepath.Join(root, "allowed")}}, ".", true},
		{FileAccess{AllowDirs: []string{filepath.Join(root, "allowed")}}, "../outside/secret.txt", false},
		{FileAccess{AllowDirs: []string{filepath.Join(root, "allowed")}}, "escape/secret.txt", false},
		{FileAccess{AllowDirs: []string{"sub"}}, "sub/x", true}, // relative allowed dirs too
		{FileAccess{AllowDirs: []string{"sub"}}, "in.txt", false},
	}
	for _, tc := range cases {
		if err := tc.access.Check("path", tc.path); (err == nil) != tc.ok {
			t.Errorf("%v, %q: got %v, want allowed %v", tc.access.AllowDirs, tc.path, err, tc.ok)
		}
	}
}

func TestFileAccessNormalize(t *testing.T) {
	root := accessTree(t)
	t.Chdir(root)
	cases := []struct {
		name string
		in   FileAccess
		want FileAccess
		err  string
	}{
		{"off stays off", FileAccess{}, FileAccess{}, ""},
		{"restricted stays restricted", FileAccess{Restricted: true}, FileAccess{Restricted: true}, ""},
		{"dirs turn it on, absolute and clean", FileAccess{AllowDirs: []string{"allowed/", root + "/outside/../future"}},
			FileAccess{Restricted: true, AllowDirs: []string{filepath.Join(root, "allowed"), filepath.Join(root, "future")}}, ""},
		{"empty", FileAccess{AllowDirs: []string{" "}}, FileAccess{}, "an allowed directory is empty"},
		{"a file", FileAccess{AllowDirs: []string{"allowed/in.txt"}}, FileAccess{}, `allowed directory "allowed/in.txt" is not a directory`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Restricted != tc.want.Restricted || strings.Join(got.AllowDirs, "|") != strings.Join(tc.want.AllowDirs, "|") {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/data/in", "/data/in", true},
		{"/data/in/x", "/data/in", true},
		{"/data/in/..x", "/data/in", true},
		{"/data/in-evil", "/data/in", false},
		{"/data/inx/y", "/data/in", false},
		{"/data", "/data/in", false},
		{"/data/other", "/data/in", false},
		{"/anything", "/", true},
		{"/", "/", true},
	} {
		if got := within(tc.path, tc.dir); got != tc.want {
			t.Errorf("within(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}

// The file source refuses a path outside the allowed directories, and a
// directory inside them that lists a file leading out (when it is made, or
// when it opens in a TaskManager later).
func TestFileSourceAccess(t *testing.T) {
	root := accessTree(t)
	at := func(p string) string { return filepath.Join(root, p) }
	access := FileAccess{Restricted: true, AllowDirs: []string{at("allowed/sub")}}
	if err := os.WriteFile(at("allowed/sub/a.txt"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"outside", at("outside/secret.txt"), `path="` + at("outside/secret.txt") + `" is outside the allowed directories ` + at("allowed/sub")},
		{"a file link leading out", at("allowed/escape.txt"), "resolves to " + at("outside/secret.txt")},
		{"missing", at("allowed/sub/missing.txt"), "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSource("file", map[string]string{"path": tc.path}, Options{Files: access})
			if !errors.Is(err, ErrParams) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	src, err := NewSource("file", map[string]string{"path": at("allowed/sub")}, Options{Files: access})
	if err != nil {
		t.Fatal(err)
	}
	// A link to a file outside appears after the job was accepted.
	if err := os.Symlink(at("outside/secret.txt"), at("allowed/sub/b.txt")); err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background(), Context{Parallelism: 1, Alloc: newAlloc(t), BatchRows: 8})
	want := "file " + at("allowed/sub/b.txt") + " resolves to " + at("outside/secret.txt")
	if !errors.Is(err, ErrFileAccess) || !strings.Contains(err.Error(), want) {
		t.Fatalf("open: got %v, want %q", err, want)
	}
	_ = src.Close()
	if _, err := NewFileSource(map[string]string{"path": at("allowed/sub")}, access); !errors.Is(err, ErrFileAccess) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Without the policy the same directory reads.
	if _, err := NewFileSource(map[string]string{"path": at("allowed/sub")}, FileAccess{}); err != nil {
		t.Fatal(err)
	}
}

// The file sink refuses before creating anything, also when the directory
// was swapped for a link leading out between its check and Open, and
// refuses to commit a transaction of a directory outside.
func TestFileSinkAccess(t *testing.T) {
	root := accessTree(t)
	at := func(p string) string { return filepath.Join(root, p) }
	access := FileAccess{AllowDirs: []string{at("allowed")}}
	cases := []struct {
		name, path, want string
	}{
		{"outside", at("outside/out"), "is outside the allowed directories"},
		{"name prefix trick", at("allowed-evil/out"), "is outside the allowed directories"},
		{"dot-dot", at("allowed/../outside/out"), "is outside the allowed directories"},
		{"dir link leading out", at("allowed/escape/out"), "resolves to " + at("outside/out")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSink("file", map[string]string{"path": tc.path}, Options{Files: access})
			if !errors.Is(err, ErrFileAccess) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "sink file: ") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := os.Lstat(at("outside/out")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused sink created %s (%v)", at("outside/out"), err)
			}
		})
	}
	if _, err := NewSink("file", map[string]string{"path": at("allowed/out")}, Options{Files: FileAccess{Restricted: true}}); !errors.Is(err, ErrFileAccess) || !strings.Contains(err.Error(), "file connectors are disabled") {
		t.Fatalf("no allowed dirs: %v", err)
	}

	schema := arrow.NewSchema([]arrow.Field{{Name: "line", Type: arrow.BinaryTypes.String}}, nil)
	c := Context{Parallelism: 1, Alloc: newAlloc(t), BatchRows: 8, Job: "j", Checkpointing: true}
	swapped, err := NewFileSink(map[string]string{"path": at("allowed/later")}, access)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(at("outside"), at("allowed/later")); err != nil {
		t.Fatal(err)
	}
	if err := swapped.Open(context.Background(), c, schema); !errors.Is(err, ErrFileAccess) {
		t.Fatalf("open through a swapped link: %v", err)
	}

	sink, err := NewFileSink(map[string]string{"path": at("allowed/out")}, access)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Open(context.Background(), c, schema); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	txn := []byte(`{"v":1,"sink":"file","job":"j","dir":"` + at("outside") + `","parts":["part-j-0-0-0.jsonl"]}`)
	for name, f := range map[string]func() error{
		"commit":  func() error { return sink.Commit(context.Background(), [][]byte{txn}) },
		"recover": func() error { return sink.Recover(context.Background(), [][]byte{txn}) },
	} {
		if err := f(); !errors.Is(err, ErrTransaction) || !strings.Contains(err.Error(), `directory "`+at("outside")+`" is outside the allowed directories`) {
			t.Errorf("%s of a transaction outside: %v", name, err)
		}
	}
}
