package exchange

import (
	"context"
	"fmt"
	"sync"
)

// Registry holds a TaskManager's live result partitions, so that local
// consumers and the remote DataExchange server can find them. It is safe for
// concurrent use.
type Registry struct {
	mu      sync.Mutex
	parts   map[PartitionKey]*ResultPartition
	changed signal // a partition was registered
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{parts: make(map[PartitionKey]*ResultPartition)}
}

// Register makes p findable by its key. It fails with ErrPartitionExists if
// the key is taken.
func (r *Registry) Register(p *ResultPartition) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.parts[p.key]; ok {
		return fmt.Errorf("%w: %s", ErrPartitionExists, p.key)
	}
	r.parts[p.key] = p
	r.changed.notify()
	return nil
}

// Unregister forgets the partition of key. Readers already handed out keep
// working; the owner unregisters a partition once it is consumed (see
// ResultPartition.Consumed) or failed.
func (r *Registry) Unregister(key PartitionKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.parts, key)
}

// Lookup returns the partition of key, if registered.
func (r *Registry) Lookup(key PartitionKey) (*ResultPartition, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.parts[key]
	return p, ok
}

// Wait returns the partition of key, waiting until it is registered
// (consumers may ask before the producer is deployed) or ctx ends.
func (r *Registry) Wait(ctx context.Context, key PartitionKey) (*ResultPartition, error) {
	for {
		r.mu.Lock()
		p, ok := r.parts[key]
		wake := r.changed.wait()
		r.mu.Unlock()
		if ok {
			return p, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, fmt.Errorf("exchange: wait for partition %s: %w", key, ctx.Err())
		}
	}
}

// Subpartition waits until the partition of key is registered (consumers may
// connect before the producer is deployed) or ctx ends, and returns the
// reading side of its subpartition i. A subpartition has exactly one reader:
// a second call for the same (key, i) fails with ErrReaderTaken, an index out
// of range with ErrNoSubpartition.
func (r *Registry) Subpartition(ctx context.Context, key PartitionKey, i int) (*SubpartitionReader, error) {
	p, err := r.Wait(ctx, key)
	if err != nil {
		return nil, err
	}
	return p.reader(i)
}
