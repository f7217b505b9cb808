package main

import (
	"flag"
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

// securityFlags registers the JobManager's access flags on fs.
func securityFlags(fs *flag.FlagSet, cfg *control.Config) {
	fs.Var((*dirList)(&cfg.AllowDirs), "allow-dir", "a directory native file sources and sinks may use (repeatable); with auth on, file connectors reach only these")
}
