package exchange

import (
	"context"
	"fmt"

	"github.com/weirflow/weir/arrow/ipcframe"
)

// ConnectLocal feeds channel ch of g from subpartition sub of the partition
// key in the same process (registry r). It returns at once; the connection
// runs in a goroutine until end-of-partition, an error (delivered to g.Next:
// the producer failed, ctx ended, the partition has no subpartition sub ...)
// or g.Close. It waits for the partition to be registered.
//
// Batches are handed over by reference (no copy), under the same credit
// accounting as a remote channel.
func (g *InputGate) ConnectLocal(ctx context.Context, ch int, r *Registry, key PartitionKey, sub int) {
	c := g.Channel(ch)
	if c == nil {
		g.Fail(fmt.Errorf("exchange: connect channel %d of a gate of %d", ch, len(g.chans)))
		return
	}
	cctx, err := c.Attach(ctx)
	if err != nil {
		c.Fail(fmt.Errorf("exchange: connect to %s subpartition %d: %w", key, sub, err))
		return
	}
	go func() {
		defer c.Detach()
		rd, err := r.Subpartition(cctx, key, sub)
		if err != nil {
			c.Fail(fmt.Errorf("exchange: connect to %s subpartition %d: %w", key, sub, err))
			return
		}
		defer rd.Close()
		c.OnGrant(func(n int) { _ = rd.Grant(n) }) // fails only once the reader is closed
		for {
			ev, backlog, err := rd.Next(cctx)
			if err != nil {
				c.Fail(err)
				return
			}
			if err := c.Deliver(ev, backlog); err != nil || ev.Kind == ipcframe.KindEndOfPartition {
				return
			}
		}
	}()
}
