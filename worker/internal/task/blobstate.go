package task

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/keygroup"
	"github.com/weirflow/weir/worker/internal/state"
)

// Windows and joins keep their state in Go structures tuned for their
// access patterns; a checkpoint turns it into one blob per key (the key's
// windows or rows, each entry length-prefixed) in a state.Store with one
// binary field, so the snapshot format, its key-group checks and its
// rescaling are those of all keyed state.

var blobFields = []arrow.Field{{Name: "entries", Type: arrow.BinaryTypes.Binary, Nullable: true}}

// snapshotBlobs snapshots the blobs fill adds, one per key.
func snapshotBlobs(alloc memory.Allocator, maxP int, fill func(add func(key string, blob []byte))) (Snapshot, error) {
	st, err := state.New(blobFields, maxP, state.WithAllocator(alloc))
	if err != nil {
		return nil, err
	}
	var keys []string
	b := array.NewBinaryBuilder(alloc, arrow.BinaryTypes.Binary)
	defer b.Release()
	fill(func(key string, blob []byte) {
		keys = append(keys, key)
		b.Append(blob)
	})
	vals := b.NewArray()
	defer vals.Release()
	sa, err := array.NewStructArray([]arrow.Array{vals}, []string{"entries"})
	if err != nil {
		return nil, err
	}
	defer sa.Release()
	if err := st.Scatter(keys, sa); err != nil {
		return nil, err
	}
	return st.Snapshot(), nil
}

// restoreBlobs reads a snapshot of snapshotBlobs and calls fn for the blob
// of every key of key groups rg.
func restoreBlobs(r io.Reader, rg keygroup.Range, alloc memory.Allocator, maxP int, fn func(key string, blob []byte) error) error {
	st, err := state.New(blobFields, maxP, state.WithAllocator(alloc))
	if err != nil {
		return err
	}
	if _, err := st.Restore(r, rg); err != nil {
		return err
	}
	return gatherGroups(st, alloc, rg, func(keys []string, sa *array.Struct) error {
		vals := sa.Field(0).(*array.Binary)
		for i, k := range keys {
			if err := fn(k, vals.Value(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// gatherGroups calls fn with the keys of key groups rg in st and their
// state rows, a few thousand keys at a time (sa is valid during the call).
func gatherGroups(st *state.Store, alloc memory.Allocator, rg keygroup.Range, fn func(keys []string, sa *array.Struct) error) error {
	var keys []string
	st.KeysInGroups(rg, func(k string) { keys = append(keys, k) })
	for len(keys) > 0 {
		n := min(len(keys), 4096)
		sa, err := st.Gather(alloc, keys[:n])
		if err != nil {
			return err
		}
		err = fn(keys[:n], sa)
		sa.Release()
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// appendEntry appends one length-prefixed entry to a blob.
func appendEntry(blob, entry []byte) []byte {
	blob = binary.AppendUvarint(blob, uint64(len(entry)))
	return append(blob, entry...)
}

// nextEntry splits the first entry off a blob.
func nextEntry(blob []byte) (entry, rest []byte, err error) {
	n, k := binary.Uvarint(blob)
	if k <= 0 || n > uint64(len(blob)-k) {
		return nil, nil, fmt.Errorf("%w: bad entry length", state.ErrCorrupt)
	}
	return blob[k : k+int(n)], blob[k+int(n):], nil
}
