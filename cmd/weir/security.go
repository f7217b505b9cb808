package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/weirflow/weir/control"
)

// dirList is a repeatable directory flag.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	*d = append(*d, v)
	return nil
}

// Environment variables of the JobManager's access settings: the token
// file's path (the --auth-file default), or the tokens themselves, one
// "TOKEN ROLE" per line.
const (
	authFileEnv   = "WEIR_AUTH_FILE"
	authTokensEnv = "WEIR_AUTH_TOKENS"
)

// securityFlags registers the JobManager's access flags on fs.
func securityFlags(fs *flag.FlagSet, cfg *control.Config) {
	fs.StringVar(&cfg.AuthFile, "auth-file", os.Getenv(authFileEnv), "token file turning authentication on: one \"TOKEN ROLE\" per line, roles viewer and submitter (default $"+authFileEnv+"; $"+authTokensEnv+" may hold the lines instead)")
	cfg.AuthTokens = os.Getenv(authTokensEnv)
	fs.Var((*dirList)(&cfg.AllowDirs), "allow-dir", "a directory native file sources and sinks may use (repeatable); with auth on, file connectors reach only these")
}

// loopbackOnly refuses a listen address beyond loopback: weir local is a
// laptop's cluster (a shared one runs weir jobmanager and taskmanager).
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: --rest-addr %q: %w", errUsage, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: --rest-addr %q: weir local listens on loopback only (127.0.0.0/8, ::1, localhost); run weir jobmanager and weir taskmanager with --auth-file to serve a network", errUsage, addr)
	}
	return nil
}
