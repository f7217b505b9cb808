package main

import (
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/weirflow/weir/control"
	"github.com/weirflow/weir/wasm"
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
	cfg.TLS.RegisterFlags(fs)
	limitFlags(fs, cfg)
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

// limitFlags registers the JobManager's limits on fs, with their defaults.
func limitFlags(fs *flag.FlagSet, cfg *control.Config) {
	fs.IntVar(&cfg.MaxArtifacts, "max-artifacts", control.DefaultMaxArtifacts, "most modules stored at once; uploads past it are refused until some are deleted")
	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", control.DefaultMaxRequestBytes, "largest request body but an upload's")
	fs.IntVar(&cfg.MaxActiveJobs, "max-jobs", control.DefaultMaxActiveJobs, "most jobs not yet ended; submissions past it are refused")
	fs.IntVar(&cfg.MaxRetainedJobs, "max-retained-jobs", control.DefaultMaxRetainedJobs, "most ended jobs kept for GET /jobs; the oldest are forgotten")
	rateFlag(fs, "submit-rate", "uploads, runs, savepoints and stops a second per client, on average", control.DefaultSubmitRate, &cfg.SubmitRate)
	fs.IntVar(&cfg.SubmitBurst, "submit-burst", control.DefaultSubmitBurst, "uploads, runs, savepoints and stops per client at once")
	fs.Uint64Var(&cfg.Plan.Memory, "plan-memory-bytes", control.DefaultPlanMemory, "memory of the sandbox reading a job's plan")
	fs.DurationVar(&cfg.Plan.Budget, "plan-call-budget", control.DefaultPlanBudget, "time the plan export may take")
	fs.IntVar(&cfg.Plan.Output, "plan-output-bytes", control.DefaultPlanOutput, "output the plan export may print")
	tableElementsFlag(fs, "plan-table-elements", "elements a module's tables may hold for its upload to be accepted", &cfg.Plan.Tables)
}

// tableElementsFlag registers a flag bounding guest tables' elements (0,
// the default, stands for wasm.DefaultTableElements).
func tableElementsFlag(fs *flag.FlagSet, name, usage string, dst *uint32) {
	fs.Func(name, fmt.Sprintf("%s (default %d)", usage, wasm.DefaultTableElements), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("want a count from 1 to %d, got %q", uint32(math.MaxUint32), v)
		}
		*dst = uint32(n)
		return nil
	})
}

// rateFlag registers a per-second rate flag: 0 turns the limit off (stored
// as -1; 0 in the configs means the default).
func rateFlag(fs *flag.FlagSet, name, usage string, def float64, dst *float64) {
	fs.Func(name, fmt.Sprintf("%s (0: no limit; default %g)", usage, def), func(v string) error {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 {
			return fmt.Errorf("want a rate >= 0, got %q", v)
		}
		if *dst = r; r == 0 {
			*dst = -1
		}
		return nil
	})
}
