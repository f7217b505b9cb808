// Package auth checks bearer tokens for the REST API and the dashboard
// (issue 9): a token file maps tokens to roles, requests carry
// "Authorization: Bearer TOKEN", and each route needs a role. Tokens are
// compared in constant time (over their SHA-256 digests, so their lengths
// do not leak either).
package auth

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
)

// Role is what a token may do. A higher role includes the lower ones.
type Role int

// Roles.
const (
	// None: no token needed (the health endpoint).
	None Role = iota
	// Viewer reads: jobs, metrics, checkpoints, the dashboard.
	Viewer
	// Submitter also uploads modules, runs, cancels, stops and savepoints
	// jobs.
	Submitter
)

func (r Role) String() string {
	switch r {
	case None:
		return "none"
	case Viewer:
		return "viewer"
	case Submitter:
		return "submitter"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole parses a role name of a token file.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return Viewer, nil
	case "submitter":
		return Submitter, nil
	}
	return None, fmt.Errorf("%w: unknown role %q (want viewer or submitter)", ErrTokenFile, s)
}

var (
	// ErrTokenFile is wrapped by every error about a token file.
	ErrTokenFile = errors.New("auth: bad token file")
	// ErrNoToken means a request without a bearer token.
	ErrNoToken = errors.New("auth: no bearer token")
	// ErrBadToken means a token that is not in the token file.
	ErrBadToken = errors.New("auth: unknown token")
	// ErrForbidden means a token whose role is too low for the request.
	ErrForbidden = errors.New("auth: role not allowed")
)

// MinTokenLength is the shortest token a file may hold: shorter ones can
// be guessed.
const MinTokenLength = 16

// Tokens are the tokens of a token file and their roles.
type Tokens struct {
	digests [][sha256.Size]byte
	roles   []Role
}

// Parse reads a token file: one "TOKEN ROLE" per line; blank lines and
// lines starting with # are ignored. Errors name the line.
func Parse(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %d: want TOKEN ROLE, got %d fields", ErrTokenFile, n, len(f))
		}
		if len(f[0]) < MinTokenLength {
			return nil, fmt.Errorf("%w: line %d: a token needs at least %d characters", ErrTokenFile, n, MinTokenLength)
		}
		role, err := ParseRole(f[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		d := sha256.Sum256([]byte(f[0]))
		if seen[d] {
			return nil, fmt.Errorf("%w: line %d: the token is listed twice", ErrTokenFile, n)
		}
		seen[d] = true
		t.digests, t.roles = append(t.digests, d), append(t.roles, role)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if len(t.digests) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrTokenFile)
	}
	return t, nil
}

// Authenticate returns the role of the bearer token in an Authorization
// header value. Every token is compared, whatever matches, in constant
// time.
func (t *Tokens) Authenticate(header string) (Role, error) {
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return None, ErrNoToken
	}
	d := sha256.Sum256([]byte(token))
	role := None
	for i := range t.digests {
		if subtle.ConstantTimeCompare(d[:], t.digests[i][:]) == 1 {
			role = t.roles[i]
		}
	}
	if role == None {
		return None, ErrBadToken
	}
	return role, nil
}

// HealthPath answers without a token.
const HealthPath = "/health"

// TokenParam is the query parameter that may carry the token of a live
// stream (GET /events): a browser's EventSource cannot set headers.
const TokenParam = "access_token"

// Required is the role a request needs: none for the health endpoint and
// for the dashboard's static files (its login page: the same files for
// everyone, no cluster data), viewer to read (GET, HEAD), submitter for
// everything else.
func Required(method, p string) Role {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case p == HealthPath:
		return None
	case read && path.Clean(p) == p && (p == "/" || p == "/index.html" || strings.HasPrefix(p, "/assets/")):
		return None
	case read:
		return Viewer
	}
	return Submitter
}

// check authorizes a request: the token's role (None when the request
// needs no token and came without a known one), or an error wrapping
// ErrNoToken, ErrBadToken or ErrForbidden. The token comes from the
// Authorization header; for GET /events alone also from the access_token
// parameter.
func (t *Tokens) check(r *http.Request) (Role, error) {
	need := Required(r.Method, r.URL.Path)
	header := r.Header.Get("Authorization")
	if header == "" && r.Method == http.MethodGet && r.URL.Path == "/events" {
		if tok := r.URL.Query().Get(TokenParam); tok != "" {
			header = "Bearer " + tok
		}
	}
	role, err := t.Authenticate(header)
	switch {
	case need == None:
		return role, nil // None when the token is missing or unknown
	case err != nil:
		return None, err
	case role < need:
		return role, fmt.Errorf("%w: %s %s needs the %s role, the token is a %s", ErrForbidden, r.Method, r.URL.Path, need, role)
	}
	return role, nil
}

// Middleware answers requests that fail check with 401 (no or unknown
// token, with WWW-Authenticate) or 403 (role too low) and a JSON body
// {"errors": [...]}, and passes the others to next, with the token's role
// in their context (RoleOf).
func (t *Tokens) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, err := t.check(r)
		if err != nil {
			refuse(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), roleKey{}, role)))
	})
}

type roleKey struct{}

// RoleOf returns the role of the token a request passed Middleware with
// (None for the requests that need no token); ok is false when the
// request did not go through Middleware (auth off).
func RoleOf(r *http.Request) (role Role, ok bool) {
	role, ok = r.Context().Value(roleKey{}).(Role)
	return role, ok
}

func refuse(w http.ResponseWriter, err error) {
	status := http.StatusUnauthorized
	if errors.Is(err, ErrForbidden) {
		status = http.StatusForbidden
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="weir"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": {err.Error()}})
}
