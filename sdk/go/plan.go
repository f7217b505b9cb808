package weir

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Plan builds the job graph a module returns from weir_plan (SPEC §7).
//
//	p := weir.NewPlan("wordcount").Parallelism(2)
//	p.Source("file", weir.Params{"path": in, "format": "lines"}).
//		FlatMap("tokenize").
//		KeyBy("word").Process("count").
//		Sink("file", weir.Params{"path": out, "format": "jsonl"})
//
// Node ids are generated from the function or connector name and made
// unique; [Stream.ID] overrides them. Mistakes (a process without KeyBy, a
// duplicate id, ...) are reported by [Plan.JSON].
type Plan struct {
	name           string
	parallelism    int
	maxParallelism int
	config         map[string]string
	nodes          []*node
	errs           []error
}

type node struct {
	id          string
	kind        string
	connector   string
	function    string
	fparams     string
	cparams     Params
	inputs      []ref
	keyBy       []string
	partition   string
	parallelism int
	name        string
	// Event time, windows and joins (window.go).
	eventTime  *eventTimeJSON
	window     *windowJSON
	aggregates []aggregateJSON
	join       *joinJSON
}

// ref is an input of a node: another node's main output, or its side
// output called side ("late").
type ref struct {
	node *node
	side string
}

// Params are the string parameters of a native source or sink connector.
type Params map[string]string

// NewPlan starts a plan for the job called name.
func NewPlan(name string) *Plan { return &Plan{name: name} }

func (p *Plan) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// Parallelism sets the job's default parallelism (default 1).
func (p *Plan) Parallelism(n int) *Plan {
	if n < 1 {
		p.errorf("job parallelism %d: must be at least 1", n)
	}
	p.parallelism = n
	return p
}

// MaxParallelism sets the number of key groups (default 128), the upper
// bound of any parallelism when rescaling keyed state.
func (p *Plan) MaxParallelism(n int) *Plan {
	if n < 1 {
		p.errorf("max parallelism %d: must be at least 1", n)
	}
	p.maxParallelism = n
	return p
}

// Config sets a job configuration entry, such as
// "pipeline.buffer-timeout" = "100ms".
func (p *Plan) Config(key, value string) *Plan {
	if p.config == nil {
		p.config = map[string]string{}
	}
	p.config[key] = value
	return p
}

// Source adds a source node reading from the native connector called
// connector, configured by params.
func (p *Plan) Source(connector string, params Params) *Stream {
	n := &node{kind: "source", connector: connector, cparams: params}
	if connector == "" {
		p.errorf("source with no connector name")
	}
	p.nodes = append(p.nodes, n)
	return &Stream{plan: p, node: n, inputs: []ref{{node: n}}}
}

// Stream is the output of a plan node (or a union of outputs, or a side
// output), to which further nodes are attached. KeyBy and Rebalance set how
// the next node's input is partitioned; Parallelism, Name and ID configure
// the node that produced the stream.
type Stream struct {
	plan      *Plan
	node      *node // producing node; nil for a union or a side output
	inputs    []ref
	keyBy     []string
	partition string
}

func (s *Stream) add(kind, function string, params []string) *Stream {
	n := &node{
		kind: kind, function: function, fparams: strings.Join(params, ","),
		inputs: s.inputs, keyBy: s.keyBy, partition: s.partition,
	}
	if function == "" {
		s.plan.errorf("%s node with no function name", kind)
	}
	s.plan.nodes = append(s.plan.nodes, n)
	return &Stream{plan: s.plan, node: n, inputs: []ref{{node: n}}}
}

// Map adds a map node running the registered function. The params are
// joined with commas into the node's params string (see
// [Operator.ParamList]).
func (s *Stream) Map(function string, params ...string) *Stream {
	return s.add("map", function, params)
}

// FlatMap adds a flatmap node running the registered function.
func (s *Stream) FlatMap(function string, params ...string) *Stream {
	return s.add("flatmap", function, params)
}

// Filter adds a filter node running the registered function.
func (s *Stream) Filter(function string, params ...string) *Stream {
	return s.add("filter", function, params)
}

// Process adds a keyed process node running the registered function; the
// stream must be keyed with [Stream.KeyBy].
func (s *Stream) Process(function string, params ...string) *Stream {
	return s.add("process", function, params)
}

// Aggregate adds an aggregate node running the registered function: one
// accumulator per key if the stream is keyed, else one per subtask.
func (s *Stream) Aggregate(function string, params ...string) *Stream {
	return s.add("aggregate", function, params)
}

// Sink adds a sink node writing to the native connector called connector.
func (s *Stream) Sink(connector string, params Params) *Stream {
	n := &node{kind: "sink", connector: connector, cparams: params,
		inputs: s.inputs, keyBy: s.keyBy, partition: s.partition}
	if connector == "" {
		s.plan.errorf("sink with no connector name")
	}
	s.plan.nodes = append(s.plan.nodes, n)
	return &Stream{plan: s.plan, node: n, inputs: []ref{{node: n}}}
}

// KeyBy partitions the next node's input by the hash of the named columns
// (into key groups). Process nodes require it.
func (s *Stream) KeyBy(columns ...string) *Stream {
	if len(columns) == 0 {
		s.plan.errorf("KeyBy with no columns")
	}
	c := *s
	c.keyBy = append([]string(nil), columns...)
	c.partition = ""
	return &c
}

// Rebalance distributes the next node's input round-robin over its
// subtasks.
func (s *Stream) Rebalance() *Stream {
	c := *s
	c.partition = "rebalance"
	c.keyBy = nil
	return &c
}

// Union returns a stream of the outputs of s and others: the next node has
// all of them as inputs.
func (s *Stream) Union(others ...*Stream) *Stream {
	c := &Stream{plan: s.plan, inputs: append([]ref(nil), s.inputs...)}
	for _, o := range others {
		if o.plan != s.plan {
			s.plan.errorf("Union of streams of different plans")
			continue
		}
		c.inputs = append(c.inputs, o.inputs...)
	}
	return c
}

func (s *Stream) producer(what string) *node {
	if s.node == nil {
		s.plan.errorf("%s on a union of streams or a side output (set it on the node that produced them)", what)
	}
	return s.node
}

// Parallelism sets the parallelism of the node that produced s.
func (s *Stream) Parallelism(n int) *Stream {
	if nd := s.producer("Parallelism"); nd != nil {
		if n < 1 {
			s.plan.errorf("node parallelism %d: must be at least 1", n)
		}
		nd.parallelism = n
	}
	return s
}

// Name sets the display name of the node that produced s.
func (s *Stream) Name(display string) *Stream {
	if nd := s.producer("Name"); nd != nil {
		nd.name = display
	}
	return s
}

// ID sets the id of the node that produced s ([A-Za-z0-9_.-]{1,64}, unique
// in the plan) instead of the generated one.
func (s *Stream) ID(id string) *Stream {
	if nd := s.producer("ID"); nd != nil {
		nd.id = id
	}
	return s
}

// Err returns the first mistake recorded while building the plan, if any.
func (p *Plan) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("plan %q: %w", p.name, p.errs[0])
}

type planJSON struct {
	WeirPlan       int               `json:"weir_plan"`
	Name           string            `json:"name"`
	Parallelism    int               `json:"parallelism,omitempty"`
	MaxParallelism int               `json:"maxParallelism,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
	Nodes          []nodeJSON        `json:"nodes"`
}

type nodeJSON struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Connector   string   `json:"connector,omitempty"`
	Function    string   `json:"function,omitempty"`
	Params      any      `json:"params,omitempty"`
	Inputs      []string `json:"inputs,omitempty"`
	KeyBy       []string `json:"keyBy,omitempty"`
	Partition   string   `json:"partition,omitempty"`
	Parallelism int      `json:"parallelism,omitempty"`
	Name        string   `json:"name,omitempty"`

	EventTime  *eventTimeJSON  `json:"eventTime,omitempty"`
	Window     *windowJSON     `json:"window,omitempty"`
	Aggregates []aggregateJSON `json:"aggregates,omitempty"`
	Join       *joinJSON       `json:"join,omitempty"`
}

func validID(id string) bool {
	if len(id) < 1 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

func sanitizeID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !validID(string(c)) {
			b[i] = '_'
		}
	}
	if len(b) > 56 {
		b = b[:56]
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}

// assignIDs gives every node without an explicit id a unique generated one.
func (p *Plan) assignIDs() (map[*node]string, error) {
	ids := make(map[*node]string, len(p.nodes))
	used := map[string]bool{}
	for _, n := range p.nodes {
		if n.id == "" {
			continue
		}
		if !validID(n.id) {
			return nil, fmt.Errorf("node id %q: must match [A-Za-z0-9_.-]{1,64}", n.id)
		}
		if used[n.id] {
			return nil, fmt.Errorf("duplicate node id %q", n.id)
		}
		used[n.id] = true
		ids[n] = n.id
	}
	for _, n := range p.nodes {
		if n.id != "" {
			continue
		}
		base := n.function
		switch {
		case n.kind == "source" || n.kind == "sink":
			base = n.kind + "-" + n.connector
		case n.kind == "join" || n.kind == "window" && n.function == "":
			base = n.kind
		}
		base = sanitizeID(base)
		id := base
		for k := 2; used[id]; k++ {
			id = base + "-" + strconv.Itoa(k)
		}
		used[id] = true
		ids[n] = id
	}
	return ids, nil
}

// JSON validates the plan and returns it as the JSON document of SPEC §7.
func (p *Plan) JSON() ([]byte, error) {
	doc, err := p.doc()
	if err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// MarshalJSON implements json.Marshaler, like [Plan.JSON].
func (p *Plan) MarshalJSON() ([]byte, error) { return p.JSON() }

func (p *Plan) doc() (*planJSON, error) {
	if err := p.Err(); err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) (*planJSON, error) {
		return nil, fmt.Errorf("plan %q: %s", p.name, fmt.Sprintf(format, args...))
	}
	if p.name == "" {
		return nil, errors.New("plan: the job has no name")
	}
	if len(p.nodes) == 0 {
		return fail("no nodes")
	}
	ids, err := p.assignIDs()
	if err != nil {
		return fail("%v", err)
	}
	doc := &planJSON{WeirPlan: 1, Name: p.name, Parallelism: p.parallelism,
		MaxParallelism: p.maxParallelism, Config: p.config}
	maxPar := p.maxParallelism
	if maxPar == 0 {
		maxPar = 128
	}
	if p.parallelism > maxPar {
		return fail("parallelism %d exceeds max parallelism %d", p.parallelism, maxPar)
	}
	for _, n := range p.nodes {
		id := ids[n]
		nj := nodeJSON{ID: id, Kind: n.kind, Connector: n.connector, Function: n.function,
			KeyBy: n.keyBy, Partition: n.partition, Parallelism: n.parallelism, Name: n.name,
			EventTime: n.eventTime, Window: n.window, Aggregates: n.aggregates, Join: n.join}
		switch n.kind {
		case "source", "sink":
			if len(n.cparams) > 0 {
				nj.Params = map[string]string(n.cparams)
			}
		default:
			if n.fparams != "" {
				nj.Params = n.fparams
			}
		}
		for _, in := range n.inputs {
			if in.node.kind == "sink" {
				return fail("node %q reads from sink %q", id, ids[in.node])
			}
			name := ids[in.node]
			if in.side != "" {
				name += ":" + in.side
			}
			nj.Inputs = append(nj.Inputs, name)
		}
		if n.kind != "source" && len(nj.Inputs) == 0 {
			return fail("node %q has no inputs", id)
		}
		if n.kind == "process" && len(n.keyBy) == 0 {
			return fail("process node %q needs KeyBy", id)
		}
		if n.parallelism > maxPar {
			return fail("node %q: parallelism %d exceeds max parallelism %d", id, n.parallelism, maxPar)
		}
		if n.kind == "window" && len(n.keyBy) == 0 && n.parallelism != 1 {
			return fail("window node %q without KeyBy runs at parallelism 1 (windowAll), not %d", id, n.parallelism)
		}
		doc.Nodes = append(doc.Nodes, nj)
	}
	return doc, nil
}

var planFunc func(args []string) (*Plan, error)

// DefinePlan registers the function that builds the job's plan from the
// program arguments (weir_plan). Call it once, from an init function or
// main. The function runs in the JobManager's sandbox and must depend on
// nothing but its arguments.
func DefinePlan(fn func(args []string) (*Plan, error)) {
	if planFunc != nil {
		panic("weir: DefinePlan called twice")
	}
	planFunc = fn
}

// BuildPlan runs the function registered with [DefinePlan] on args and
// returns the plan JSON, as weir_plan does. It is useful in native tests.
func BuildPlan(args []string) ([]byte, error) {
	if planFunc == nil {
		return nil, errors.New("weir: no plan defined")
	}
	p, err := planFunc(args)
	if err != nil {
		return nil, err
	}
	return p.JSON()
}

// NewFlagSet returns a flag set for parsing plan arguments (for example
// "--input FILE --output DIR"): Parse returns errors instead of exiting
// and prints nothing.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
