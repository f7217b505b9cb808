package connector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrFileAccess is wrapped by every error about a path the file access
// policy refuses. It wraps [ErrParams]: a refused path is a bad parameter.
var ErrFileAccess = fmt.Errorf("%w: file access refused", ErrParams)

// FileAccess is the policy of the native file source and sink, whose paths
// come from job arguments: which directories they may read and write.
//
// The zero value is unrestricted. The policy is on when Restricted is set or
// AllowDirs is not empty; then a path is allowed only if it is one of the
// allowed directories or lies below one, after both are made absolute and
// clean and the symbolic links of their longest existing prefix are
// resolved (so "..", a symbolic link leading out of an allowed directory and
// a sibling sharing a name prefix, like /data/in-other for /data/in, are
// all refused). With the policy on and no AllowDirs, file connectors are
// refused altogether.
type FileAccess struct {
	// Restricted turns the allow-list on, also when it is empty.
	Restricted bool
	// AllowDirs are the allowed directories (absolute, see [FileAccess.Normalize]).
	AllowDirs []string
}

// On tells whether the allow-list applies.
func (a FileAccess) On() bool { return a.Restricted || len(a.AllowDirs) > 0 }

// String describes the policy for logs.
func (a FileAccess) String() string {
	switch {
	case !a.On():
		return "unrestricted"
	case len(a.AllowDirs) == 0:
		return "file connectors disabled"
	}
	return "restricted to " + strings.Join(a.AllowDirs, ", ")
}

// Normalize checks the allowed directories and makes them absolute and
// clean (as given, symbolic links unresolved: they are resolved at every
// check). An empty name, or a name of something that exists and is not a
// directory, is an error. A directory that does not exist yet is allowed.
func (a FileAccess) Normalize() (FileAccess, error) {
	out := FileAccess{Restricted: a.On()}
	for _, d := range a.AllowDirs {
		if strings.TrimSpace(d) == "" {
			return FileAccess{}, errors.New("connector: an allowed directory is empty")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return FileAccess{}, fmt.Errorf("connector: allowed directory %q: %w", d, err)
		}
		if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
			return FileAccess{}, fmt.Errorf("connector: allowed directory %q is not a directory", d)
		}
		out.AllowDirs = append(out.AllowDirs, abs)
	}
	return out, nil
}

// Check returns nil if the file connectors may use path, the value of
// parameter param; else an error wrapping [ErrFileAccess] that names the
// parameter, the path and the allowed directories.
func (a FileAccess) Check(param, path string) error {
	if !a.On() {
		return nil
	}
	return a.checker().check(param, path)
}

// fileChecker is a policy with its allowed directories resolved, for
// checking many paths at once (the files of a directory).
type fileChecker struct {
	a    FileAccess
	dirs []string // resolved; nil when off
}

func (a FileAccess) checker() fileChecker {
	c := fileChecker{a: a}
	if !a.On() {
		return c
	}
	for _, d := range a.AllowDirs {
		// A directory that cannot be resolved (a dangling link, no
		// permission) allows nothing.
		if r, err := resolve(d); err == nil {
			c.dirs = append(c.dirs, r)
		}
	}
	return c
}

// check is [FileAccess.Check] with the directories resolved.
func (c fileChecker) check(param, path string) error {
	return c.verdict(ErrFileAccess, fmt.Sprintf("parameter %s=%q", param, path), path)
}

// checkListed checks a file found in directory path (parameter param).
func (c fileChecker) checkListed(param, path, file string) error {
	return c.verdict(ErrFileAccess, fmt.Sprintf("parameter %s=%q: file %s", param, path, file), file)
}

// verdict checks path, which subject names in the error; the error wraps
// sentinel.
func (c fileChecker) verdict(sentinel error, subject, path string) error {
	why, err := c.refusal(path)
	if err != nil {
		return fmt.Errorf("%w: %s cannot be checked against the allowed directories: %w", sentinel, subject, err)
	}
	if why != "" {
		return fmt.Errorf("%w: %s %s", sentinel, subject, why)
	}
	return nil
}

// refusal says why path is refused ("" if it is allowed); an error means it
// could not be resolved.
func (c fileChecker) refusal(path string) (string, error) {
	if !c.a.On() {
		return "", nil
	}
	if len(c.a.AllowDirs) == 0 {
		return "is refused: file connectors are disabled (file access is restricted and no --allow-dir was given)", nil
	}
	real, err := resolve(path)
	if err != nil {
		return "", err
	}
	for _, d := range c.dirs {
		if within(real, d) {
			return "", nil
		}
	}
	allowed := "outside the allowed directories " + strings.Join(c.a.AllowDirs, ", ") + " (--allow-dir)"
	if abs, err := filepath.Abs(path); err == nil && abs != real {
		return "resolves to " + real + ", " + allowed, nil
	}
	return "is " + allowed, nil
}

// resolve makes path absolute and clean and resolves the symbolic links of
// its longest existing prefix; the rest, which does not exist (yet), is
// appended as it is. A symbolic link whose target is missing is an error:
// where it leads cannot be known.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path) // also cleans: no ".." is left
	if err != nil {
		return "", err
	}
	p, rest := abs, ""
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(p); lerr == nil {
			return "", fmt.Errorf("%s is a symbolic link to a missing target", p)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// within tells whether path is dir or below it (both absolute and clean):
// /data/in/x is within /data/in, /data/in-other is not.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil || filepath.IsAbs(rel) {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
