package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterFileAllowList: with --allow-dir, a file job whose input and
// output are inside the allowed directory runs, and one whose paths are
// outside (directly, with "..", or through a symbolic link in the allowed
// directory) is refused at submission with 400 naming the path and the
// allow-list, creating nothing.
func TestClusterFileAllowList(t *testing.T) {
	allowed, outside := t.TempDir(), t.TempDir()
	c := startCluster(t, 1, 2, "--allow-dir", allowed)
	id := c.upload(t, exampleModule(t, "./wordcount"))

	input, want := wordcountInput(t, allowed, 500)
	out := filepath.Join(allowed, "out")
	job := c.submit(t, id, fmt.Sprintf(`{"parallelism":2,"programArgs":["--input",%q,"--output",%q]}`, input, out))
	c.waitFinished(t, job)
	checkWordcount(t, out, want)

	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("not for jobs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(allowed, "escape")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, in, out string
		want          []string // in the error
	}{
		{"input outside", secret, filepath.Join(allowed, "out2"), []string{`path=\"` + secret + `\" is outside the allowed directories ` + allowed}},
		{"output outside", input, filepath.Join(outside, "out"), []string{`path=\"` + filepath.Join(outside, "out") + `\" is outside the allowed directories ` + allowed}},
		{"dot-dot", filepath.Join(allowed, "..", filepath.Base(outside), "secret.txt"), filepath.Join(allowed, "out2"), []string{secret, "outside the allowed directories"}},
		{"link out of the allowed dir", filepath.Join(allowed, "escape", "secret.txt"), filepath.Join(allowed, "out2"), []string{filepath.Join(allowed, "escape", "secret.txt"), "resolves to " + secret}},
		{"output through the link", input, filepath.Join(allowed, "escape", "out"), []string{"resolves to " + filepath.Join(outside, "out")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, body := c.request(t, http.MethodPost, "/wasm/"+id+"/run", "application/json",
				strings.NewReader(fmt.Sprintf(`{"programArgs":["--input",%q,"--output",%q]}`, tc.in, tc.out)))
			if st != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", st, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("the error does not say %q: %s", w, body)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("refused jobs wrote outside the allowed directory: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(allowed, "out2")); err == nil {
		t.Errorf("a refused job created its output directory")
	}
}

// A JobManager given an --allow-dir that is not a directory refuses to
// start, saying so.
func TestJobManagerBadAllowDir(t *testing.T) {
	bin := weirBinary(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, want string }{
		{file, `allowed directory "` + file + `" is not a directory`},
		{"", "an allowed directory is empty"},
	} {
		cmd := exec.Command(bin, "jobmanager", "--rest-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0",
			"--etcd-listen", "http://127.0.0.1:0", "--data-dir", t.TempDir(), "--allow-dir", tc.dir)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("--allow-dir %q: %v, want an error with %q:\n%s", tc.dir, err, tc.want, out)
		}
	}
}
