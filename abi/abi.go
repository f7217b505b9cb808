// Package abi holds the constants of the Weir guest ABI and the decoder of the
// job plan a guest exports. The normative text is SPEC.md beside this file.
// The package depends on the standard library only, so that host code, tools
// and tests can share it.
package abi

// Version is the ABI version this package describes.
const Version = 1

// VersionExportPrefix prefixes the marker export that names a module's ABI
// version: a v1 module exports "weir_abi_v1".
const VersionExportPrefix = "weir_abi_v"

// Guest exports (SPEC §2).
const (
	ExportMemory     = "memory"
	ExportAlloc      = "weir_alloc"
	ExportFree       = "weir_free"
	ExportPlan       = "weir_plan"
	ExportOpen       = "weir_open"
	ExportClose      = "weir_close"
	ExportMap        = "weir_map"
	ExportFilter     = "weir_filter"
	ExportProcess    = "weir_process"
	ExportAggCreate  = "weir_agg_create"
	ExportAggAdd     = "weir_agg_add"
	ExportAggMerge   = "weir_agg_merge"
	ExportAggResult  = "weir_agg_result"
	ExportInitialize = "_initialize"
	ExportStart      = "_start"
)

// Host imports (SPEC §6).
const (
	ImportModule = "weir"
	ImportError  = "error"
	ImportLog    = "log"
	WASIModule   = "wasi_snapshot_preview1"
)

// Status codes returned by every export.
const (
	StatusOK    = 0
	StatusError = 1
)

// RetAreaSize is the size of the return area the host passes to exports.
const RetAreaSize = 64

// MaxErrorMessage is how many bytes of a guest error message the host keeps.
const MaxErrorMessage = 4096

// Kind is an operator kind, as passed to weir_open.
type Kind int32

// Operator kinds (SPEC §8).
const (
	KindMap       Kind = 1
	KindFlatMap   Kind = 2
	KindFilter    Kind = 3
	KindProcess   Kind = 4
	KindAggregate Kind = 5
)

var kindNames = map[Kind]string{
	KindMap: "map", KindFlatMap: "flatmap", KindFilter: "filter",
	KindProcess: "process", KindAggregate: "aggregate",
}

// String returns the plan name of the kind ("map", "flatmap", ...).
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "unknown"
}

// ParseKind returns the kind of a plan node kind name; ok is false for
// "source", "sink" and unknown names.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return k, true
		}
	}
	return 0, false
}

// Exports returns the exports a kind requires.
func (k Kind) Exports() []string {
	switch k {
	case KindMap, KindFlatMap:
		return []string{ExportMap}
	case KindFilter:
		return []string{ExportFilter}
	case KindProcess:
		return []string{ExportProcess}
	case KindAggregate:
		return []string{ExportAggCreate, ExportAggAdd, ExportAggMerge, ExportAggResult}
	}
	return nil
}

// Selection kinds written by weir_filter (SPEC §9.2).
const (
	SelectBitmap = 0
	SelectVector = 1
	SelectAll    = 2
	SelectNone   = 3
)

// Log levels of the weir.log import.
const (
	LogDebug = 0
	LogInfo  = 1
	LogWarn  = 2
	LogError = 3
)
