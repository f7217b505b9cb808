package weir

import (
	"fmt"
	"sort"
	"strings"
)

// Kind is the kind of an operator (SPEC §8).
type Kind int32

// Operator kinds, numbered as in the ABI.
const (
	KindMap       Kind = 1
	KindFlatMap   Kind = 2
	KindFilter    Kind = 3
	KindProcess   Kind = 4
	KindAggregate Kind = 5
)

// String returns the kind's plan name: "map", "flatmap", "filter", "process"
// or "aggregate".
func (k Kind) String() string {
	switch k {
	case KindMap:
		return "map"
	case KindFlatMap:
		return "flatmap"
	case KindFilter:
		return "filter"
	case KindProcess:
		return "process"
	case KindAggregate:
		return "aggregate"
	}
	return fmt.Sprintf("Kind(%d)", int32(k))
}

// Operator describes an operator being opened: one instance of a registered
// function in one subtask. The open function of the registration reads Name,
// Params and Input, checks them, sets Output (and State for process and
// aggregate operators) and returns the batch function, which usually
// captures what it needs (column indexes, parsed parameters).
type Operator struct {
	// Name is the registered function name.
	Name string
	// Kind is how the function was registered.
	Kind Kind
	// Params is the node's params string from the plan, verbatim.
	Params string
	// Input is the schema of the input batches.
	Input Schema
	// Output is the schema of the output batches (map, flatmap, process) or
	// of the result batch (aggregate), set by the open function. Filters
	// have no output schema.
	Output Schema
	// State is the schema of the keyed state (process) or of the
	// accumulators (aggregate), set by the open function.
	State Schema
}

// ParamList splits Params at commas and trims spaces around each item;
// empty items are dropped. The plan builder's Map, Filter, ... join their
// params arguments with commas.
func (op *Operator) ParamList() []string {
	return SplitParams(op.Params)
}

// SplitParams splits s at commas and trims spaces around each item; empty
// items are dropped.
func SplitParams(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// MapFunc processes one input batch of a map or flatmap operator, appending
// its rows to out (reset before each call). A map must append exactly one
// output row per input row, in order; a flatmap any number. A returned error
// fails the call with its message.
type MapFunc func(in *Batch, out *Builder) error

// FilterFunc selects the rows of in to keep (see [Selection]); no data is
// copied.
type FilterFunc func(in *Batch, sel *Selection) error

// ProcessFunc processes one batch of a keyed process operator. Row i of in
// belongs to key row keys[i] of state, which has one row per distinct key of
// the batch holding the key's current state (see [Table]); the function
// updates state in place and appends any number of rows to out. It is called
// once per batch, never once per key.
type ProcessFunc func(in *Batch, keys []int32, state *Table, out *Builder) error

// Aggregator is the set of functions of an aggregate operator. Accumulators
// are the rows of a [Table] of schema [Operator.State].
type Aggregator struct {
	// Init, if set, initialises the accumulators of a new table (all zero
	// values before the call).
	Init func(acc *Table) error
	// Add adds input row i to accumulator groups[i], for every row of in.
	Add func(acc *Table, in *Batch, groups []int32) error
	// Merge merges accumulator other[i] into acc[groups[i]] for every row i
	// of other.
	Merge func(acc, other *Table, groups []int32) error
	// Result appends one result row per accumulator to out, whose schema is
	// [Operator.Output].
	Result func(acc *Table, out *Builder) error
}

// registration is what the Map, Filter, ... functions record.
type registration struct {
	kind    Kind
	map_    func(*Operator) (MapFunc, error)
	filter  func(*Operator) (FilterFunc, error)
	process func(*Operator) (ProcessFunc, error)
	agg     func(*Operator) (*Aggregator, error)
}

var registry = map[string]*registration{}

func register(name string, r *registration) {
	if name == "" {
		panic("weir: registering a function with an empty name")
	}
	if old, ok := registry[name]; ok {
		panic(fmt.Sprintf("weir: function %q registered twice (as %s and %s)", name, old.kind, r.kind))
	}
	registry[name] = r
}

// Map registers a map function called name. For each operator instance the
// SDK calls open, which validates the input schema and params, sets
// op.Output and returns the function applied to every batch. Map is
// typically called from an init function or main.
func Map(name string, open func(op *Operator) (MapFunc, error)) {
	register(name, &registration{kind: KindMap, map_: open})
}

// FlatMap registers a flatmap function: like [Map], but each call may emit
// any number of rows.
func FlatMap(name string, open func(op *Operator) (MapFunc, error)) {
	register(name, &registration{kind: KindFlatMap, map_: open})
}

// Filter registers a filter function. open returns the function selecting
// rows of each batch; op.Output is ignored (a filter outputs its input rows).
func Filter(name string, open func(op *Operator) (FilterFunc, error)) {
	register(name, &registration{kind: KindFilter, filter: open})
}

// Process registers a keyed process function. open sets op.Output and
// op.State (the per-key state columns) and returns the batch function.
func Process(name string, open func(op *Operator) (ProcessFunc, error)) {
	register(name, &registration{kind: KindProcess, process: open})
}

// Aggregate registers an aggregate function. open sets op.State (the
// accumulator columns) and op.Output (the result columns) and returns the
// functions.
func Aggregate(name string, open func(op *Operator) (*Aggregator, error)) {
	register(name, &registration{kind: KindAggregate, agg: open})
}

// Registered returns the names of the registered functions, sorted.
func Registered() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
