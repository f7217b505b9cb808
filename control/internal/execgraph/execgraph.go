// Package execgraph turns a job plan (abi.Plan) into what the JobMaster
// schedules: job vertices (chains of plan nodes that run in one task), the
// edges between them with their partitioning, parallel subtasks, and their
// placement into shared slots. It is deterministic and does no I/O.
package execgraph

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weirflow/weir/abi"
	"github.com/weirflow/weir/internal/keygroup"
)

// ErrNotEnoughSlots means the cluster offers fewer free slots than the job
// needs.
var ErrNotEnoughSlots = errors.New("execgraph: not enough free slots")

// ConfigChaining is the plan configuration key that turns operator chaining
// off ("false"), as Flink's pipeline.operator-chaining.
const ConfigChaining = "pipeline.operator-chaining"

// Vertex is a job vertex: a chain of plan nodes that run together in one task,
// handing batches to each other with no copy and no channel.
type Vertex struct {
	// ID is the id of the chain's head node.
	ID string
	// Name is the display name, e.g. "Source: lines -> FlatMap: tokenize".
	Name string
	// Nodes are the chained plan nodes, head first.
	Nodes []abi.Node
	// Parallelism is the number of subtasks.
	Parallelism int
	// Inputs are the edges into the head node.
	Inputs []Edge
}

// Edge connects the tail of one vertex to the head of another.
type Edge struct {
	Source, Target string // vertex ids
	// Side names the side output of the source vertex's tail the edge
	// carries ("" for its main output), e.g. abi.SideLate.
	Side string
	// Partition is forward (subtask i to subtask i), rebalance (round robin
	// to all) or hash (by KeyBy into key groups).
	Partition string
	KeyBy     []string
}

// Graph is the job graph of a plan after chaining.
type Graph struct {
	Job            string
	MaxParallelism int
	// Vertices in topological order (sources first).
	Vertices []*Vertex
}

// Build chains the plan's nodes into job vertices. Two nodes chain, as in
// Flink, when the upstream's only consumer is the downstream, the
// downstream's only input is the upstream, the edge is forward and both
// have the same parallelism; plan config pipeline.operator-chaining=false
// turns chaining off.
func Build(p *abi.Plan) (*Graph, error) {
	chaining := p.Config[ConfigChaining] != "false"
	consumers := map[string]int{}
	byID := map[string]abi.Node{}
	sides := map[string]bool{} // nodes with a side output consumed
	for _, n := range p.Nodes {
		byID[n.ID] = n
		for _, in := range n.Inputs {
			id, side := abi.SplitInput(in)
			consumers[id]++
			sides[id] = sides[id] || side != ""
		}
	}
	chainable := func(n abi.Node) bool {
		if !chaining || len(n.Inputs) != 1 || n.Partition != "forward" {
			return false
		}
		id, side := abi.SplitInput(n.Inputs[0])
		up := byID[id]
		// A node with a side output ends its chain: its side output leaves
		// the vertex from the chain's tail.
		return side == "" && !sides[id] && consumers[up.ID] == 1 && up.Parallelism == n.Parallelism
	}
	g := &Graph{Job: p.Name, MaxParallelism: p.MaxParallelism}
	vertexOf := map[string]*Vertex{} // node id -> its vertex
	for _, n := range p.Nodes {      // topological order
		if chainable(n) {
			v := vertexOf[n.Inputs[0]] // no side output: chainable
			v.Nodes = append(v.Nodes, n)
			vertexOf[n.ID] = v
			continue
		}
		v := &Vertex{ID: n.ID, Nodes: []abi.Node{n}, Parallelism: n.Parallelism}
		for i, in := range n.Inputs {
			id, side := abi.SplitInput(in)
			v.Inputs = append(v.Inputs, Edge{Source: vertexOf[id].ID, Target: n.ID, Side: side, Partition: n.Partition, KeyBy: n.InputKeyBy(i)})
		}
		vertexOf[n.ID] = v
		g.Vertices = append(g.Vertices, v)
	}
	for _, v := range g.Vertices {
		v.Name = chainName(v.Nodes)
	}
	return g, nil
}

func chainName(nodes []abi.Node) string {
	parts := make([]string, len(nodes))
	for i, n := range nodes {
		label := n.Name
		if label == "" {
			label = n.Function
			if n.Connector != "" {
				label = n.Connector
			}
			if n.Window != nil && label == "" {
				label = n.Window.Type
			}
			if n.Join != nil {
				label = n.Join.Type
			}
		}
		kind := map[string]string{"source": "Source", "sink": "Sink", "map": "Map", "flatmap": "FlatMap",
			"filter": "Filter", "process": "KeyedProcess", "aggregate": "Aggregate",
			"window": "Window", "join": "Join"}[n.Kind]
		parts[i] = kind + ": " + label
	}
	return strings.Join(parts, " -> ")
}

// Vertex returns the vertex with the id, or nil.
func (g *Graph) Vertex(id string) *Vertex {
	for _, v := range g.Vertices {
		if v.ID == id {
			return v
		}
	}
	return nil
}

// Slots is the number of slots the job needs with slot sharing: one slot
// holds one subtask of every vertex, so the highest parallelism.
func (g *Graph) Slots() int {
	n := 0
	for _, v := range g.Vertices {
		n = max(n, v.Parallelism)
	}
	return n
}

// Slot is a free slot offered by a TaskManager.
type Slot struct {
	TaskManager string
	Index       int
}

func (s Slot) String() string { return fmt.Sprintf("%s/%d", s.TaskManager, s.Index) }

// PickSlots chooses n of the free slots, spreading them evenly over
// TaskManagers: each pick takes a slot from the TaskManager with the fewest
// slots picked so far, then the most free slots left, then the lowest id;
// lowest slot index first. The result is deterministic for a given set of
// offers.
func PickSlots(n int, free []Slot) ([]Slot, error) {
	if n > len(free) {
		return nil, fmt.Errorf("%w: the job needs %d, %d are free", ErrNotEnoughSlots, n, len(free))
	}
	byTM := map[string][]Slot{}
	for _, s := range free {
		byTM[s.TaskManager] = append(byTM[s.TaskManager], s)
	}
	tms := make([]string, 0, len(byTM))
	for tm, slots := range byTM {
		slices.SortFunc(slots, func(a, b Slot) int { return cmp.Compare(a.Index, b.Index) })
		tms = append(tms, tm)
	}
	slices.Sort(tms)
	picked := make([]Slot, 0, n)
	used := map[string]int{}
	better := func(a, b string) bool { // is TaskManager a a better pick than b?
		if used[a] != used[b] {
			return used[a] < used[b]
		}
		return len(byTM[a]) > len(byTM[b])
	}
	for len(picked) < n {
		best := ""
		for _, tm := range tms {
			if len(byTM[tm]) > 0 && (best == "" || better(tm, best)) {
				best = tm
			}
		}
		picked = append(picked, byTM[best][0])
		byTM[best] = byTM[best][1:]
		used[best]++
	}
	return picked, nil
}

// Subtask is one parallel instance of a vertex.
type Subtask struct {
	Vertex string
	Index  int
	// Slot is the slot it runs in.
	Slot Slot
	// KeyGroups is the key-group range it owns when its head is keyed.
	KeyGroups keygroup.Range
}

// ID is "<vertex>#<index>".
func (s Subtask) ID() string { return fmt.Sprintf("%s#%d", s.Vertex, s.Index) }

// Place assigns every subtask to a slot with slot sharing: subtask i of every
// vertex goes into shared slot i. slots must hold g.Slots() entries (see
// PickSlots).
func (g *Graph) Place(slots []Slot) ([]Subtask, error) {
	if len(slots) < g.Slots() {
		return nil, fmt.Errorf("%w: %d slots for a job that needs %d", ErrNotEnoughSlots, len(slots), g.Slots())
	}
	var out []Subtask
	for _, v := range g.Vertices {
		for i := 0; i < v.Parallelism; i++ {
			out = append(out, Subtask{
				Vertex:    v.ID,
				Index:     i,
				Slot:      slots[i],
				KeyGroups: keygroup.RangeOf(g.MaxParallelism, v.Parallelism, i),
			})
		}
	}
	return out, nil
}

// Channels lists, for an edge, which upstream subtasks send to which
// downstream subtasks: forward connects i to i, the others all to all. The
// result is indexed [upstream][k] = downstream subtask.
func (g *Graph) Channels(e Edge) ([][]int, error) {
	src, dst := g.Vertex(e.Source), g.Vertex(e.Target)
	if src == nil || dst == nil {
		return nil, fmt.Errorf("execgraph: edge %s -> %s names an unknown vertex", e.Source, e.Target)
	}
	out := make([][]int, src.Parallelism)
	for i := range out {
		if e.Partition == "forward" {
			if src.Parallelism != dst.Parallelism {
				return nil, fmt.Errorf("execgraph: forward edge %s -> %s changes parallelism %d -> %d", e.Source, e.Target, src.Parallelism, dst.Parallelism)
			}
			out[i] = []int{i}
			continue
		}
		out[i] = make([]int, dst.Parallelism)
		for k := range out[i] {
			out[i][k] = k
		}
	}
	return out, nil
}
