package state

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/ipc"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/weirflow/weir/internal/keygroup"
)

// FormatVersion is the version of the snapshot format WriteTo writes and
// Restore reads, stored in the schema metadata under "weir.state.version".
const FormatVersion = 1

// Column names and schema metadata keys of the snapshot format.
const (
	KeyColumn      = "_key"       // binary, not null: the encoded key (batch.AppendKey)
	KeyGroupColumn = "_key_group" // int32, not null: the key's key group

	metaVersion = "weir.state.version"
	metaMaxP    = "weir.state.max_parallelism"
	metaRows    = "weir.state.rows"
)

// Bounds of one record batch of a snapshot stream: rows, and bytes of keys
// and variable-length values (a single larger row gets a batch of its own).
// Restore refuses Arrow messages and buffers above maxMessage bytes (a
// corrupt length must not make it allocate terabytes), so WriteTo refuses
// rows that large.
const (
	batchRows  = 64 << 10
	batchBytes = 64 << 20
	maxMessage = 1 << 30
	maxMeta    = 1 << 20 // flatbuffer metadata of one message
)

var (
	// ErrFormat means a stream that is not a state snapshot of a version
	// this build reads.
	ErrFormat = errors.New("state: not a state snapshot of a supported format version")
	// ErrMaxParallelism means a snapshot taken with another number of key
	// groups (keys would map to other key groups).
	ErrMaxParallelism = errors.New("state: max parallelism differs")
	// ErrCorrupt means a snapshot stream that cannot be read: truncated,
	// malformed Arrow data, or keys in the wrong key group.
	ErrCorrupt = errors.New("state: corrupt snapshot")
	// ErrReleased means a Snapshot used after Release.
	ErrReleased = errors.New("state: snapshot released")
)

// Snapshot is a frozen copy of a Store's rows, sharing the store's pages
// until the store writes them (copy-on-write). It may be written (WriteTo)
// on any goroutine while the store goes on, and must be released once
// written. It is not safe for concurrent use by several goroutines.
type Snapshot struct {
	layout
	fields   []arrow.Field
	maxP     int
	alloc    memory.Allocator
	pages    []*page
	rows     int
	released atomic.Bool
	// bounds of a record batch (batchRows, batchBytes; smaller in tests)
	maxRows, maxBytes int
}

// Snapshot freezes the current rows of the store in O(pages): it takes a
// reference to every page, and the store copies a page before its next
// write to it. The caller must Release the snapshot; until then the pages it
// shares stay in memory.
func (s *Store) Snapshot() *Snapshot {
	s.free.trim(len(s.pages))
	pages := slices.Clone(s.pages)
	for _, p := range pages {
		p.refs.Add(1)
	}
	return &Snapshot{layout: s.layout, fields: s.fields, maxP: s.maxP, alloc: s.alloc, pages: pages, rows: len(s.index),
		maxRows: batchRows, maxBytes: batchBytes}
}

// Len is the number of keys in the snapshot.
func (sn *Snapshot) Len() int { return sn.rows }

// Release gives the snapshot's pages back to the store: pages the store has
// not replaced since become writable in place again, the others are
// recycled. It may be called from any goroutine, once WriteTo has returned;
// later calls do nothing.
func (sn *Snapshot) Release() {
	if sn.released.Swap(true) {
		return
	}
	for _, p := range sn.pages {
		sn.unref(p)
	}
	sn.pages = nil
}

// Schema is the Arrow schema of the snapshot stream: _key, _key_group, then
// the state fields, with the format version, max parallelism and row count
// in its metadata.
func (sn *Snapshot) Schema() *arrow.Schema { return streamSchema(sn.fields, sn.maxP, sn.rows) }

func streamSchema(state []arrow.Field, maxP, rows int) *arrow.Schema {
	fields := make([]arrow.Field, 0, 2+len(state))
	fields = append(fields,
		arrow.Field{Name: KeyColumn, Type: arrow.BinaryTypes.Binary},
		arrow.Field{Name: KeyGroupColumn, Type: arrow.PrimitiveTypes.Int32})
	fields = append(fields, state...)
	md := arrow.NewMetadata(
		[]string{metaVersion, metaMaxP, metaRows},
		[]string{strconv.Itoa(FormatVersion), strconv.Itoa(maxP), strconv.Itoa(rows)})
	return arrow.NewSchema(fields, &md)
}

// WriteTo writes the snapshot to w as an Arrow IPC stream (see Schema):
// rows grouped by key group in ascending order, in record batches of at most
// 64K rows and about 64 MiB of keys and values. It buffers its writes and
// returns the number of bytes written. Memory stays bounded by one batch;
// nothing it allocates outlives the call.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if sn.released.Load() {
		return 0, ErrReleased
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	schema := sn.Schema()
	iw := ipc.NewWriter(bw, ipc.WithSchema(schema), ipc.WithAllocator(sn.alloc))
	err := sn.writeBatches(iw, schema)
	if cerr := iw.Close(); err == nil {
		err = cerr
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return cw.n, fmt.Errorf("state: write snapshot: %w", err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// segment is slots [from, to) of a page; batches are made of segments.
type segment struct {
	p        *page
	from, to int
}

func (sn *Snapshot) writeBatches(iw *ipc.Writer, schema *arrow.Schema) error {
	order := slices.Clone(sn.pages)
	slices.SortStableFunc(order, func(a, b *page) int { return cmp.Compare(a.group, b.group) })
	enc := &encoder{sn: sn, schema: schema, cols: make([]encColumn, len(sn.fields))}
	var segs []segment
	rows, bytes := 0, 0
	for _, p := range order {
		from := 0
		for i := range int(p.n) {
			if !p.live[i] {
				continue
			}
			rb := len(p.keys[i])
			for f, k := range sn.kinds {
				if k == kindVar {
					rb += int(p.cols[f].lens[i])
				}
			}
			if rb > maxMessage/2 {
				return fmt.Errorf("%w: the state of key %x holds %d bytes", ErrTooLarge, p.keys[i], rb)
			}
			if rows > 0 && (rows == sn.maxRows || bytes+rb > sn.maxBytes) {
				if err := enc.write(iw, append(segs, segment{p, from, i}), rows); err != nil {
					return err
				}
				segs, rows, bytes, from = segs[:0], 0, 0, i
			}
			rows++
			bytes += rb
		}
		segs = append(segs, segment{p, from, int(p.n)})
	}
	if rows > 0 {
		return enc.write(iw, segs, rows)
	}
	return nil
}

// encoder builds the record batches of a snapshot in reused Go memory.
type encoder struct {
	sn      *Snapshot
	schema  *arrow.Schema
	keyOffs []int32
	keyData []byte
	groups  []int32
	cols    []encColumn
}

type encColumn struct {
	valid []byte
	vals  []byte // fixed-width values or the bool bitmap
	offs  []int32
	data  []byte
}

// bitmap returns b resized to n bits, cleared.
func bitmap(b []byte, n int) []byte {
	b = slices.Grow(b[:0], int(bitutil.BytesForBits(int64(n))))[:bitutil.BytesForBits(int64(n))]
	clear(b)
	return b
}

// write encodes the live rows of segs (rows of them) as one record batch.
func (e *encoder) write(iw *ipc.Writer, segs []segment, rows int) error {
	sn := e.sn
	e.keyOffs, e.keyData, e.groups = e.keyOffs[:0], e.keyData[:0], e.groups[:0]
	for _, sg := range segs {
		for i := sg.from; i < sg.to; i++ {
			if sg.p.live[i] {
				e.keyOffs = append(e.keyOffs, int32(len(e.keyData)))
				e.keyData = append(e.keyData, sg.p.keys[i]...)
				e.groups = append(e.groups, sg.p.group)
			}
		}
	}
	e.keyOffs = append(e.keyOffs, int32(len(e.keyData)))
	cols := make([]arrow.Array, 0, 2+len(sn.fields))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	cols = append(cols,
		newArray(arrow.BinaryTypes.Binary, rows, 0, nil, i32bytes(e.keyOffs), e.keyData),
		newArray(arrow.PrimitiveTypes.Int32, rows, 0, nil, i32bytes(e.groups)))
	for f, k := range sn.kinds {
		ec := &e.cols[f]
		ec.valid = bitmap(ec.valid, rows)
		nulls := 0
		j := 0
		switch k {
		case kindBool:
			ec.vals = bitmap(ec.vals, rows)
			for _, sg := range segs {
				c := &sg.p.cols[f]
				for i := sg.from; i < sg.to; i++ {
					if !sg.p.live[i] {
						continue
					}
					if !c.valid[i] {
						nulls++
					} else {
						bitutil.SetBit(ec.valid, j)
						if c.bools[i] {
							bitutil.SetBit(ec.vals, j)
						}
					}
					j++
				}
			}
			cols = append(cols, newArray(sn.fields[f].Type, rows, nulls, ec.valid, ec.vals))
		case kindFixed:
			w := sn.widths[f]
			ec.vals = ec.vals[:0]
			for _, sg := range segs {
				c := &sg.p.cols[f]
				for i := sg.from; i < sg.to; i++ {
					if !sg.p.live[i] {
						continue
					}
					if !c.valid[i] {
						nulls++
					} else {
						bitutil.SetBit(ec.valid, j)
					}
					ec.vals = append(ec.vals, c.fixed[i*w:(i+1)*w]...)
					j++
				}
			}
			cols = append(cols, newArray(sn.fields[f].Type, rows, nulls, ec.valid, ec.vals))
		case kindVar:
			ec.offs, ec.data = ec.offs[:0], ec.data[:0]
			for _, sg := range segs {
				c := &sg.p.cols[f]
				for i := sg.from; i < sg.to; i++ {
					if !sg.p.live[i] {
						continue
					}
					ec.offs = append(ec.offs, int32(len(ec.data)))
					if !c.valid[i] {
						nulls++
					} else {
						bitutil.SetBit(ec.valid, j)
						ec.data = append(ec.data, c.data[c.offs[i]:c.offs[i]+c.lens[i]]...)
					}
					j++
				}
			}
			ec.offs = append(ec.offs, int32(len(ec.data)))
			cols = append(cols, newArray(sn.fields[f].Type, rows, nulls, ec.valid, i32bytes(ec.offs), ec.data))
		}
	}
	rec := array.NewRecord(e.schema, cols, int64(rows))
	defer rec.Release()
	return iw.Write(rec)
}

// newArray wraps Go memory as an array: the validity bitmap (nil when there
// are no nulls), then the other buffers. The array does not own the memory.
func newArray(dt arrow.DataType, n, nulls int, valid []byte, bufs ...[]byte) arrow.Array {
	mb := make([]*memory.Buffer, 0, 1+len(bufs))
	if nulls > 0 {
		mb = append(mb, memory.NewBufferBytes(valid))
	} else {
		mb = append(mb, nil)
	}
	for _, b := range bufs {
		mb = append(mb, memory.NewBufferBytes(b))
	}
	d := array.NewData(dt, n, mb, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

func i32bytes(v []int32) []byte { return arrow.Int32Traits.CastToBytes(v) }

// Restore reads a snapshot stream written by WriteTo and adds the rows whose
// key group is in rg, replacing the state of keys the store already holds,
// so a subtask restored at another parallelism reads the snapshots of every
// subtask of its vertex and keeps its own key groups. It returns the number
// of rows kept.
//
// It refuses a stream of another format version (ErrFormat), another max
// parallelism (ErrMaxParallelism) or other state fields (ErrSchema), and a
// truncated or malformed one (ErrCorrupt). After an error the store may hold
// part of the stream's rows. It buffers its reads, so it may read r past the
// end of the stream. The Arrow buffers read come from the store's
// allocator (WithAllocator) and are released before Restore returns.
func (s *Store) Restore(r io.Reader, rg keygroup.Range) (rows int, err error) {
	alloc := &readAllocator{base: s.alloc, limit: s.readLimit, live: map[*byte][]byte{}}
	defer alloc.freeLeaked()
	mr := &messageReader{r: bufio.NewReaderSize(r, 256<<10), mem: alloc, limit: s.readLimit}
	rd, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(alloc))
	if err != nil {
		mr.Release()
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer rd.Release()
	want, err := s.checkSchema(rd.Schema())
	if err != nil {
		return 0, err
	}
	if len(s.index) == 0 && want > 0 {
		// Size the index once rather than rehashing it as it grows
		// (bounded: the count is not trusted yet).
		s.index = make(map[string]int32, min(want, 1<<23))
	}
	seen := 0
	for rd.Next() {
		rec := rd.Record()
		if seen+int(rec.NumRows()) > want {
			return rows, fmt.Errorf("%w: more than the %d rows announced", ErrCorrupt, want)
		}
		kept, err := s.restoreBatch(rec, rg)
		rows += kept
		if err != nil {
			return rows, fmt.Errorf("%w: batch at row %d: %w", ErrCorrupt, seen, err)
		}
		seen += int(rec.NumRows())
	}
	if err := rd.Err(); err != nil {
		return rows, fmt.Errorf("%w: after %d rows: %w", ErrCorrupt, seen, err)
	}
	if seen != want {
		return rows, fmt.Errorf("%w: truncated: %d rows of %d", ErrCorrupt, seen, want)
	}
	return rows, nil
}

// checkSchema checks a snapshot's schema against the store and returns the
// number of rows it announces.
func (s *Store) checkSchema(sc *arrow.Schema) (int, error) {
	md := sc.Metadata()
	get := func(k string) (string, bool) {
		if i := md.FindKey(k); i >= 0 {
			return md.Values()[i], true
		}
		return "", false
	}
	v, ok := get(metaVersion)
	if !ok {
		return 0, fmt.Errorf("%w: no %s in the schema metadata", ErrFormat, metaVersion)
	}
	if v != strconv.Itoa(FormatVersion) {
		return 0, fmt.Errorf("%w: version %q, this build reads version %d", ErrFormat, v, FormatVersion)
	}
	mp, _ := get(metaMaxP)
	if mp != strconv.Itoa(s.maxP) {
		return 0, fmt.Errorf("%w: the snapshot has %q key groups, the store %d", ErrMaxParallelism, mp, s.maxP)
	}
	rs, _ := get(metaRows)
	want, err := strconv.Atoi(rs)
	if err != nil || want < 0 {
		return 0, fmt.Errorf("%w: row count %q", ErrCorrupt, rs)
	}
	if sc.NumFields() < 2 || sc.Field(0).Name != KeyColumn || !arrow.TypeEqual(sc.Field(0).Type, arrow.BinaryTypes.Binary) ||
		sc.Field(1).Name != KeyGroupColumn || !arrow.TypeEqual(sc.Field(1).Type, arrow.PrimitiveTypes.Int32) {
		return 0, fmt.Errorf("%w: the stream does not start with %s binary, %s int32", ErrFormat, KeyColumn, KeyGroupColumn)
	}
	got := sc.Fields()[2:]
	if len(got) != len(s.fields) {
		return 0, fmt.Errorf("%w: the snapshot holds %s, the store %s", ErrSchema, arrow.StructOf(got...), s.typ)
	}
	for i, f := range s.fields {
		g := got[i]
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || g.Nullable != f.Nullable {
			return 0, fmt.Errorf("%w: state field %d is %s in the snapshot, %s in the store", ErrSchema, i, g, f)
		}
	}
	return want, nil
}

// restoreBatch adds the rows of rec in rg to the store. It checks the
// arrays first: the stream is untrusted input.
func (s *Store) restoreBatch(rec arrow.Record, rg keygroup.Range) (kept int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed batch: %v", p)
		}
	}()
	if int(rec.NumCols()) != 2+len(s.fields) {
		return 0, fmt.Errorf("%d columns", rec.NumCols())
	}
	n := int(rec.NumRows())
	for c, a := range rec.Columns() {
		k, w := kindVar, 0
		if c == 1 {
			k, w = kindFixed, 4
		} else if c > 1 {
			k, w = s.kinds[c-2], s.widths[c-2]
		}
		if err := checkArray(a, n, k, w); err != nil {
			return 0, fmt.Errorf("column %q: %w", rec.ColumnName(c), err)
		}
	}
	keys, groups := rec.Column(0), rec.Column(1)
	if keys.NullN() != 0 || groups.NullN() != 0 {
		return 0, fmt.Errorf("null keys or key groups")
	}
	koffs := arrow.Int32Traits.CastFromBytes(bufBytes(keys.Data(), 1))[keys.Data().Offset():]
	kdata := bufBytes(keys.Data(), 2)
	gs := groups.(*array.Int32).Int32Values()
	sel, kgs := make([]int32, 0, n), make([]int32, 0, n)
	for i := range n {
		g := gs[i]
		if g < 0 || int(g) >= s.maxP {
			return 0, fmt.Errorf("row %d: key group %d out of [0, %d)", i, g, s.maxP)
		}
		if !rg.Contains(int(g)) {
			continue
		}
		if h := keygroup.Of(keygroup.Hash(kdata[koffs[i]:koffs[i+1]]), s.maxP); h != int(g) {
			return 0, fmt.Errorf("row %d: key %x recorded in key group %d belongs to %d", i, kdata[koffs[i]:koffs[i+1]], g, h)
		}
		sel, kgs = append(sel, int32(i)), append(kgs, g)
	}
	rows := make([]int32, len(sel))
	for j, i := range sel {
		rows[j] = s.rowIn(string(kdata[koffs[i]:koffs[i+1]]), kgs[j])
	}
	for f := range s.fields {
		if err := s.put(f, rec.Column(2+f), rows, sel); err != nil {
			return len(rows), err
		}
	}
	return len(rows), nil
}

// checkArray checks that the buffers of a (n rows) hold what reading it as
// kind k (width w) touches.
func checkArray(a arrow.Array, n int, k kind, w int) error {
	d := a.Data()
	off := d.Offset()
	if d.Len() != n || off < 0 {
		return fmt.Errorf("%d rows at offset %d in a batch of %d", d.Len(), off, n)
	}
	blen := func(i int) int { return len(bufBytes(d, i)) }
	if nulls := d.NullN(); nulls < 0 || nulls > n {
		return fmt.Errorf("%d nulls in %d rows", nulls, n)
	} else if nulls > 0 && blen(0) < int(bitutil.BytesForBits(int64(off+n))) {
		return fmt.Errorf("validity bitmap of %d bytes for %d rows", blen(0), off+n)
	}
	switch k {
	case kindBool:
		if blen(1) < int(bitutil.BytesForBits(int64(off+n))) {
			return fmt.Errorf("%d bytes of booleans for %d rows", blen(1), off+n)
		}
	case kindFixed:
		if blen(1) < (off+n)*w {
			return fmt.Errorf("%d bytes of values for %d rows of %d bytes", blen(1), off+n, w)
		}
	case kindVar:
		if blen(1) < 4*(off+n+1) {
			return fmt.Errorf("%d bytes of offsets for %d rows", blen(1), off+n)
		}
		offs := arrow.Int32Traits.CastFromBytes(bufBytes(d, 1))[off : off+n+1]
		if offs[0] < 0 || int(offs[n]) > blen(2) {
			return fmt.Errorf("offsets [%d, %d] out of %d bytes of data", offs[0], offs[n], blen(2))
		}
		for i := range n {
			if offs[i+1] < offs[i] {
				return fmt.Errorf("offsets decrease at row %d", i)
			}
		}
		if a.DataType().ID() == arrow.STRING {
			data := bufBytes(d, 2)
			for i := range n {
				if a.IsValid(i) && !utf8.Valid(data[offs[i]:offs[i+1]]) {
					return fmt.Errorf("row %d: invalid UTF-8", i)
				}
			}
		}
	}
	return nil
}

// messageReader reads the messages of an Arrow IPC stream, as
// ipc.NewMessageReader does, refusing metadata above maxMeta bytes or that
// verifyMessage rejects, and bodies above limit bytes, before allocating
// them. Streams of the pre-0.15 format (no
// continuation marker) are refused. Each message is valid until the next.
type messageReader struct {
	r     io.Reader
	mem   memory.Allocator
	limit int
	msg   *ipc.Message
	refs  atomic.Int64 // references beyond the first
	head  [8]byte
}

func (m *messageReader) Message() (*ipc.Message, error) {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
	if _, err := io.ReadFull(m.r, m.head[:4]); err != nil {
		return nil, fmt.Errorf("message header: %w", err)
	}
	cont := binary.LittleEndian.Uint32(m.head[:4])
	if cont == 0 {
		return nil, io.EOF
	}
	if cont != 0xFFFFFFFF {
		return nil, fmt.Errorf("no continuation marker (%#x)", cont)
	}
	if _, err := io.ReadFull(m.r, m.head[4:]); err != nil {
		return nil, fmt.Errorf("message length: %w", err)
	}
	n := int32(binary.LittleEndian.Uint32(m.head[4:]))
	if n == 0 {
		return nil, io.EOF
	}
	if n < 0 || n > maxMeta {
		return nil, fmt.Errorf("message metadata of %d bytes", n)
	}
	meta := memory.NewBufferBytes(make([]byte, n))
	defer meta.Release()
	if _, err := io.ReadFull(m.r, meta.Bytes()); err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	if err := verifyMessage(meta.Bytes()); err != nil {
		return nil, fmt.Errorf("message metadata: %w", err)
	}
	empty := memory.NewBufferBytes(nil)
	defer empty.Release()
	probe := ipc.NewMessage(meta, empty)
	size := probe.BodyLen()
	probe.Release()
	if size < 0 || size > int64(m.limit) {
		return nil, fmt.Errorf("message body of %d bytes (limit %d)", size, m.limit)
	}
	body := memory.NewResizableBuffer(m.mem)
	defer body.Release()
	body.Resize(int(size))
	if _, err := io.ReadFull(m.r, body.Bytes()); err != nil {
		return nil, fmt.Errorf("message body: %w", err)
	}
	m.msg = ipc.NewMessage(meta, body)
	return m.msg, nil
}

func (m *messageReader) Retain() { m.refs.Add(1) }

func (m *messageReader) Release() {
	if m.refs.Add(-1) < 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// readAllocator is the allocator of one Restore: it refuses (panics, which
// the IPC reader turns into an error) allocations above limit bytes, and
// remembers what it handed out so that Restore can free what arrow/ipc's
// error paths leak (a decoding panic drops the buffers it had allocated).
type readAllocator struct {
	base  memory.Allocator
	limit int
	mu    sync.Mutex
	live  map[*byte][]byte
}

func (a *readAllocator) check(size int) {
	if size < 0 || size > a.limit {
		panic(fmt.Sprintf("state: refusing to allocate %d bytes (limit %d)", size, a.limit))
	}
}

func (a *readAllocator) track(b []byte) {
	if cap(b) > 0 {
		a.mu.Lock()
		a.live[unsafe.SliceData(b)] = b
		a.mu.Unlock()
	}
}

func (a *readAllocator) untrack(b []byte) {
	if cap(b) > 0 {
		a.mu.Lock()
		delete(a.live, unsafe.SliceData(b))
		a.mu.Unlock()
	}
}

// Allocate implements memory.Allocator.
func (a *readAllocator) Allocate(size int) []byte {
	a.check(size)
	b := a.base.Allocate(size)
	a.track(b)
	return b
}

// Reallocate implements memory.Allocator.
func (a *readAllocator) Reallocate(size int, b []byte) []byte {
	a.check(size)
	a.untrack(b)
	b = a.base.Reallocate(size, b)
	a.track(b)
	return b
}

// Free implements memory.Allocator.
func (a *readAllocator) Free(b []byte) {
	a.untrack(b)
	a.base.Free(b)
}

// freeLeaked frees what is still allocated. Call it when nothing refers to
// the buffers any more.
func (a *readAllocator) freeLeaked() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for p, b := range a.live {
		delete(a.live, p)
		a.base.Free(b)
	}
}
