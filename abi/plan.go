package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
)

// ErrInvalidPlan is wrapped by every error of DecodePlan.
var ErrInvalidPlan = errors.New("abi: invalid plan")

// Plan limits.
const (
	MaxPlanBytes       = 1 << 20
	MaxPlanNodes       = 1024
	MaxParallelism     = 32768
	DefaultMaxParallel = 128
)

// Plan is the job graph a module exports from weir_plan (SPEC §7).
type Plan struct {
	Version        int               `json:"weir_plan"`
	Name           string            `json:"name"`
	Parallelism    int               `json:"parallelism,omitempty"`
	MaxParallelism int               `json:"maxParallelism,omitempty"`
	Config         map[string]string `json:"config,omitempty"`
	Nodes          []Node            `json:"nodes"`
}

// Node is one vertex of the plan.
type Node struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Name        string   `json:"name,omitempty"`
	Inputs      []string `json:"inputs,omitempty"`
	Parallelism int      `json:"parallelism,omitempty"`
	// Connector and ConnectorParams describe native sources and sinks.
	Connector string `json:"connector,omitempty"`
	// Function names the guest function of a Wasm operator node.
	Function string   `json:"function,omitempty"`
	KeyBy    []string `json:"keyBy,omitempty"`
	// Partition is "forward", "rebalance" or "hash".
	Partition string `json:"partition,omitempty"`
	// Params is a string map for connectors and a string for Wasm operators;
	// see ConnectorParams and FunctionParams.
	Params json.RawMessage `json:"params,omitempty"`
	// EventTime gives a source's rows event time and watermarks.
	EventTime *EventTime `json:"eventTime,omitempty"`
	// Window and Aggregates (or Function, a guest aggregate) describe a
	// window node.
	Window     *Window     `json:"window,omitempty"`
	Aggregates []Aggregate `json:"aggregates,omitempty"`
	// Join describes a join node.
	Join *Join `json:"join,omitempty"`

	ConnectorParams map[string]string `json:"-"`
	FunctionParams  string            `json:"-"`
}

// IsWasm reports whether the node runs guest code.
func (n Node) IsWasm() bool { _, ok := ParseKind(n.Kind); return ok }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// DecodePlan parses and validates plan JSON. It fills defaults
// (parallelism 1, max parallelism 128, partition) and the typed params, and
// returns nodes in topological order (sources first).
func DecodePlan(data []byte) (*Plan, error) { return DecodePlanWith(data, DecodeOptions{}) }

// DecodeOptions adjust a plan while it is decoded.
type DecodeOptions struct {
	// Parallelism, when > 0, replaces the plan's default parallelism (what
	// nodes without their own get), as Flink's `run -p` does.
	Parallelism int
}

// DecodePlanWith is DecodePlan with options.
func DecodePlanWith(data []byte, o DecodeOptions) (*Plan, error) {
	if len(data) > MaxPlanBytes {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidPlan, len(data), MaxPlanBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Plan
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPlan, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the plan object", ErrInvalidPlan)
	}
	if o.Parallelism > 0 {
		p.Parallelism = o.Parallelism
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPlan, err)
	}
	return &p, nil
}

func (p *Plan) validate() error {
	if p.Version != Version {
		return fmt.Errorf("weir_plan is %d, want %d", p.Version, Version)
	}
	if p.Name == "" || len(p.Name) > 200 {
		return errors.New("name must be 1 to 200 characters")
	}
	if p.Parallelism == 0 {
		p.Parallelism = 1
	}
	if p.MaxParallelism == 0 {
		p.MaxParallelism = DefaultMaxParallel
	}
	if p.MaxParallelism < 1 || p.MaxParallelism > MaxParallelism {
		return fmt.Errorf("maxParallelism %d is outside 1..%d", p.MaxParallelism, MaxParallelism)
	}
	if p.Parallelism < 1 || p.Parallelism > p.MaxParallelism {
		return fmt.Errorf("parallelism %d is outside 1..%d", p.Parallelism, p.MaxParallelism)
	}
	if len(p.Nodes) == 0 || len(p.Nodes) > MaxPlanNodes {
		return fmt.Errorf("a plan needs 1 to %d nodes, has %d", MaxPlanNodes, len(p.Nodes))
	}
	byID := make(map[string]*Node, len(p.Nodes))
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if !idPattern.MatchString(n.ID) {
			return fmt.Errorf("node %d: id %q must match %s", i, n.ID, idPattern)
		}
		if byID[n.ID] != nil {
			return fmt.Errorf("node id %q is used twice", n.ID)
		}
		byID[n.ID] = n
		if err := n.validate(p); err != nil {
			return fmt.Errorf("node %q: %w", n.ID, err)
		}
	}
	for i := range p.Nodes {
		seen := map[string]bool{}
		for _, in := range p.Nodes[i].Inputs {
			id, side := SplitInput(in)
			up := byID[id]
			switch {
			case up == nil:
				return fmt.Errorf("node %q: input %q is not a node", p.Nodes[i].ID, in)
			case up.Kind == "sink":
				return fmt.Errorf("node %q: input %q is a sink", p.Nodes[i].ID, in)
			case side != "" && (side != SideLate || up.Kind != "window" || up.Window.Time != TimeEvent):
				return fmt.Errorf("node %q: input %q: only event-time window nodes have a side output, %q", p.Nodes[i].ID, in, SideLate)
			case seen[id]:
				return fmt.Errorf("node %q: takes node %q twice", p.Nodes[i].ID, id)
			}
			seen[id] = true
		}
	}
	order, err := topoSort(p.Nodes)
	if err != nil {
		return err
	}
	p.Nodes = order
	return defaultPartitions(p.Nodes, byID)
}

// defaultPartitions picks each node's partitioning as Flink does: hash with
// keyBy, forward when every input has the node's parallelism, rebalance
// otherwise. An explicit forward across a parallelism change is an error.
func defaultPartitions(nodes []Node, byID map[string]*Node) error {
	for i := range nodes {
		n := &nodes[i]
		if n.Kind == "source" {
			continue
		}
		same := true
		for _, in := range n.Inputs {
			id, _ := SplitInput(in)
			same = same && byID[id].Parallelism == n.Parallelism
		}
		switch {
		case n.Partition == "" && len(n.KeyBy) > 0:
			n.Partition = "hash"
		case n.Partition == "" && same:
			n.Partition = "forward"
		case n.Partition == "":
			n.Partition = "rebalance"
		case n.Partition == "forward" && !same:
			return fmt.Errorf("node %q: forward partitioning needs the parallelism of its inputs (%d); use rebalance", n.ID, n.Parallelism)
		}
	}
	return nil
}

// decodeParams fills ConnectorParams or FunctionParams from Params.
func (n *Node) decodeParams() error {
	if len(n.Params) == 0 {
		return nil
	}
	if n.UsesWasm() {
		if err := json.Unmarshal(n.Params, &n.FunctionParams); err != nil {
			return fmt.Errorf("function params must be a string: %w", err)
		}
		return nil
	}
	if err := json.Unmarshal(n.Params, &n.ConnectorParams); err != nil {
		return fmt.Errorf("connector params must be a map of strings: %w", err)
	}
	return nil
}

// DecodeNodes parses a JSON array of nodes of an already validated plan
// (a TaskManager's chain) and fills their typed params.
func DecodeNodes(data []byte) ([]Node, error) {
	var nodes []Node
	if err := json.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("%w: nodes: %w", ErrInvalidPlan, err)
	}
	for i := range nodes {
		if err := nodes[i].decodeParams(); err != nil {
			return nil, fmt.Errorf("%w: node %q: %w", ErrInvalidPlan, nodes[i].ID, err)
		}
	}
	return nodes, nil
}

func (n *Node) validate(p *Plan) error {
	if n.Parallelism == 0 {
		n.Parallelism = p.Parallelism
	}
	if n.Parallelism < 1 || n.Parallelism > p.MaxParallelism {
		return fmt.Errorf("parallelism %d is outside 1..%d", n.Parallelism, p.MaxParallelism)
	}
	switch {
	case n.Kind == "source" || n.Kind == "sink":
		if n.Connector == "" {
			return fmt.Errorf("a %s needs a connector", n.Kind)
		}
		if n.Function != "" || len(n.KeyBy) > 0 && n.Kind == "source" {
			return fmt.Errorf("a %s takes no function or keyBy", n.Kind)
		}
		if err := n.decodeParams(); err != nil {
			return err
		}
		if n.EventTime != nil {
			if n.Kind != "source" {
				return errors.New("only a source takes eventTime")
			}
			if err := n.EventTime.validate(); err != nil {
				return err
			}
		}
	case n.Kind == "window":
		if err := n.validateWindow(); err != nil {
			return err
		}
	case n.Kind == "join":
		if err := n.validateJoin(); err != nil {
			return err
		}
	case n.IsWasm():
		if n.Function == "" {
			return fmt.Errorf("a %s needs a function", n.Kind)
		}
		if n.Connector != "" {
			return fmt.Errorf("a %s takes no connector", n.Kind)
		}
		if err := n.decodeParams(); err != nil {
			return err
		}
		if n.Kind == "process" && len(n.KeyBy) == 0 {
			return errors.New("a process node needs keyBy")
		}
	default:
		return fmt.Errorf("unknown kind %q (want source, sink, map, flatmap, filter, process, aggregate, window or join)", n.Kind)
	}
	if n.EventTime != nil && n.Kind != "source" || n.Window != nil && n.Kind != "window" ||
		len(n.Aggregates) > 0 && n.Kind != "window" || n.Join != nil && n.Kind != "join" {
		return fmt.Errorf("a %s takes no eventTime, window, aggregates or join it does not use", n.Kind)
	}
	if n.Kind == "source" && len(n.Inputs) > 0 {
		return errors.New("a source takes no inputs")
	}
	if n.Kind != "source" && len(n.Inputs) == 0 {
		return errors.New("needs at least one input")
	}
	for _, k := range n.KeyBy {
		if k == "" {
			return errors.New("keyBy has an empty column name")
		}
	}
	switch n.Partition {
	case "": // chosen once the inputs' parallelism is known (defaultPartitions)
	case "forward", "rebalance":
		if len(n.KeyBy) > 0 {
			return fmt.Errorf("partition %q contradicts keyBy", n.Partition)
		}
	case "hash":
		if len(n.KeyBy) == 0 && n.Kind != "join" {
			return errors.New(`partition "hash" needs keyBy`)
		}
	default:
		return fmt.Errorf("unknown partition %q", n.Partition)
	}
	return nil
}

// topoSort orders nodes so every node comes after its inputs, keeping the
// declared order where it is free, and refuses cycles.
func topoSort(nodes []Node) ([]Node, error) {
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.ID] = i
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make([]int, len(nodes))
	out := make([]Node, 0, len(nodes))
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("the graph has a cycle: %v", append(path, nodes[i].ID))
		}
		state[i] = visiting
		for _, in := range nodes[i].Inputs {
			id, _ := SplitInput(in)
			if err := visit(index[id], append(path, nodes[i].ID)); err != nil {
				return err
			}
		}
		state[i] = done
		out = append(out, nodes[i])
		return nil
	}
	for i := range nodes {
		if err := visit(i, nil); err != nil {
			return nil, err
		}
	}
	return slices.Clip(out), nil
}
