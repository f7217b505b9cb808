// Command weir is Weir's single binary. Until the cluster lands it offers the
// job-author tools: inspect a module, check an SDK against the ABI vectors,
// and try a job's operators on its input in-process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

type command struct {
	name, args, help string
	run              func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	cmds := []command{
		{"inspect", "JOB.wasm [-- ARGS...]", "validate a job module and print its ABI, operators and plan", runInspect},
		{"try", "[--limit N] [--top N] JOB.wasm [-- ARGS...]", "run a job's Wasm operators over its file source in-process and print the result", runTry},
		{"abi", "check [--json] [--vectors DIR] MODULE.wasm", "run the ABI conformance vectors against a module", runABI},
		verifyCommand(),
		certsCommand(),
		drillCommand(),
		benchCommand(),
		{"version", "", "print the version", func(_ context.Context, _ []string, w io.Writer) error {
			_, err := fmt.Fprintf(w, "weir %s (ABI v1)\n", version)
			return err
		}},
	}
	cmds = append(cmds, clusterCommands()...)
	return append(cmds, clientCommands()...)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Weir %s: a dataflow engine whose operators are WebAssembly.\n\nUsage:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  weir %-8s %s\n      %s\n", c.name, c.args, c.help)
	}
}

// errUsage marks errors that should print the usage and exit 2.
var errUsage = errors.New("usage")

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "weir %s: %v\nusage: weir %s %s\n", c.name, err, c.name, c.args)
			return 2
		case errors.Is(err, errFailed):
			return 1
		}
		fmt.Fprintf(stderr, "weir %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "weir: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errFailed is returned by commands that already printed their failure.
var errFailed = errors.New("failed")

// splitArgs separates "JOB.wasm -- ARGS" after flag parsing.
func splitArgs(fs *flag.FlagSet) (module string, progArgs []string, err error) {
	rest := fs.Args()
	if len(rest) == 0 {
		return "", nil, fmt.Errorf("%w: no module given", errUsage)
	}
	module, rest = rest[0], rest[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return module, rest, nil
}
