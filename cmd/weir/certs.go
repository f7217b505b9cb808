package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/weirflow/weir/internal/certs"
)

const certsArgs = "--dir DIR [--hosts H1,H2,...] [--names jobmanager,taskmanager,client] [--days N] [--force]"

// certsCommand writes a development CA and certificates with internal/certs.
func certsCommand() command {
	return command{"certs", certsArgs, "write a development CA and TLS certificates for the JobManager, TaskManagers and clients", runCerts}
}

func runCerts(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write the PEM files into, created (mode 0700) if missing (required)")
	hosts := fs.String("hosts", strings.Join(certs.DefaultHosts, ","), "comma-separated host names and IP addresses the certificates are valid for")
	names := fs.String("names", strings.Join(certs.DefaultNames, ","), "comma-separated certificates to issue: NAME.pem and NAME-key.pem each")
	days := fs.Int("days", int(certs.DefaultValidity/(24*time.Hour)), "days the certificates (and a new CA) are valid")
	force := fs.Bool("force", false, "overwrite existing files and make a new CA (certificates of the old CA stop verifying)")
	pos, err := parseInterspersed(fs, certsArgs, args, clientIOFrom(ctx).stderr)
	if err != nil {
		return err
	}
	opts := certs.Options{Names: splitList(*names), Hosts: splitList(*hosts), Validity: time.Duration(*days) * 24 * time.Hour, Force: *force}
	switch {
	case len(pos) != 0:
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	case strings.TrimSpace(*dir) == "":
		return fmt.Errorf("%w: --dir is required", errUsage)
	case *days < 1 || *days > 100*365:
		return fmt.Errorf("%w: --days must be between 1 and %d", errUsage, 100*365)
	case len(opts.Names) == 0:
		return fmt.Errorf("%w: --names is empty", errUsage)
	case len(opts.Hosts) == 0:
		return fmt.Errorf("%w: --hosts is empty", errUsage)
	}

	written, err := certs.Generate(*dir, opts)
	switch {
	case errors.Is(err, certs.ErrOptions):
		return fmt.Errorf("%w: %w", errUsage, err)
	case errors.Is(err, certs.ErrExists):
		return fmt.Errorf("%w (--force overwrites every file and makes a new CA)", err)
	case err != nil:
		return err
	}
	if written.ReusedCA {
		fmt.Fprintf(w, "signed with the existing CA %s\n", written.CA)
	}
	for _, p := range written.Paths {
		fmt.Fprintf(w, "wrote %s\n", p)
	}
	fmt.Fprintf(w, "\nCertificates for %s, valid until %s for %s.\n",
		strings.Join(opts.Names, ", "), written.NotAfter.Format(time.DateOnly), strings.Join(opts.Hosts, ", "))
	fmt.Fprintf(w, "Each serves and dials (mutual TLS); give every process the CA and its own certificate and key:\n")
	width := 0
	for _, c := range written.Certs {
		width = max(width, len(c.Name)+1)
	}
	for _, c := range written.Certs {
		fmt.Fprintf(w, "  %-*s  --tls-ca %s --tls-cert %s --tls-key %s\n", width, c.Name+":", c.Files.CA, c.Files.Cert, c.Files.Key)
	}
	if slices.ContainsFunc(opts.Names, func(n string) bool { return n == "jobmanager" || n == "taskmanager" }) {
		fmt.Fprintf(w, "That is: weir jobmanager the jobmanager flags, weir taskmanager the taskmanager ones, the client\n"+
			"commands (weir run, list, ...) the client ones, or only --tls-ca to reach a REST API without mutual TLS.\n")
	}
	fmt.Fprintf(w, "REST clients use https:// and trust the CA: curl --cacert %s https://localhost:8081/...\n", written.CA)
	fmt.Fprintf(w, "Keep the *-key.pem files private; %s signs more certificates: weir certs --dir %s --names NAME --hosts HOST.\n", written.CAKey, *dir)
	return nil
}
