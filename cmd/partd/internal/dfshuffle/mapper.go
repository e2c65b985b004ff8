package dfshuffle

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
)

// MapStats is what one map task read and sent to the store.
type MapStats struct {
	Task    int     `json:"task"`
	Attempt int     `json:"attempt"` // Plan.Attempt of the process that ran it
	Rows    int64   `json:"rows"`    // rows read
	Bytes   int64   `json:"bytes"`   // bytes appended to the store (Arrow IPC streams)
	Parts   []Stats `json:"parts"`   // per partition: the rows sent there and their checksum
}

// counter is a partd.Store that counts the bytes appended through it and
// returned by its Gets.
type counter struct {
	partd.Store
	appended, read atomic.Int64
}

func (c *counter) Append(data map[string][]byte) error {
	var n int64
	for _, v := range data {
		n += int64(len(v))
	}
	if err := c.Store.Append(data); err != nil {
		return err
	}
	c.appended.Add(n)
	return nil
}

func (c *counter) Get(keys ...string) ([][]byte, error) {
	vals, err := c.Store.Get(keys...)
	for _, v := range vals {
		c.read.Add(int64(len(v)))
	}
	return vals, err
}

// RunMapTask runs map task task of p: it reads the task's rows batch by
// batch, splits each batch by the hash of the By columns into the plan's
// partitions (arrowstore.Partition) and appends the pieces to store as
// Arrow IPC streams under ChunkKey(prefix, partition, task, chunk), a few
// megabytes of batches (Job.FlushBytes) per Append, one Append in flight
// while the next batches are read. progress, if not nil, is called with the
// rows appended so far after each Append (from another goroutine, never two
// calls at once).
//
// A task that fails may have appended some of its pieces: the shuffle then
// fails as a whole (or the task's keys are deleted before it runs again).
func RunMapTask(ctx context.Context, p *Plan, task int, store partd.Store, progress func(rows int64)) (MapStats, error) {
	if task < 0 || task >= len(p.Tasks) {
		return MapStats{}, fmt.Errorf("dfshuffle: no task %d (the plan has %d)", task, len(p.Tasks))
	}
	t := p.Tasks[task]
	mem := compute.GetAllocator(ctx)
	src, err := openTask(ctx, p, t, mem)
	if err != nil {
		return MapStats{}, err
	}
	defer src.close()
	cs := &counter{Store: store}
	codec, err := storeCodec(p.Job.StoreCompression)
	if err != nil {
		return MapStats{}, err
	}
	as, err := arrowstore.New(cs, arrowstore.WithSchema(p.schema), arrowstore.WithAllocator(mem), arrowstore.WithCompression(codec))
	if err != nil {
		return MapStats{}, err
	}
	n := p.Job.Partitions
	m := &mapper{p: p, task: t, as: as, progress: progress,
		stats:   MapStats{Task: t.ID, Attempt: p.Attempt, Parts: make([]Stats, n)},
		pending: make([][]arrow.RecordBatch, n), partBytes: make([]int64, n), seq: make([]int, n), keyBytes: make([]int64, n),
		work: make(chan flushBatch, 1), mem: mem}
	m.wg.Go(m.appender)
	err = m.run(ctx, src)
	close(m.work)
	m.wg.Wait()
	for _, recs := range m.pending {
		releaseAll(recs)
	}
	if err == nil {
		err = m.appendErr
	}
	if err != nil {
		return MapStats{}, err
	}
	if t.Rows >= 0 && m.stats.Rows != t.Rows {
		return MapStats{}, &InputError{File: p.Files[t.File].Path, Err: fmt.Errorf("read %d rows where the file says %d", m.stats.Rows, t.Rows)}
	}
	m.stats.Bytes = cs.appended.Load()
	return m.stats, nil
}

type mapper struct {
	p        *Plan
	task     Task
	as       *arrowstore.Store
	progress func(int64)
	stats    MapStats

	pending      [][]arrow.RecordBatch // per partition, the pieces not yet appended
	partBytes    []int64               // per partition, about the bytes of its pending pieces
	pendingBytes int64
	pendingRows  int64
	seq          []int   // per partition, the chunk its pieces go to
	keyBytes     []int64 // per partition, the bytes appended to the current chunk

	mem       memory.Allocator
	work      chan flushBatch
	wg        sync.WaitGroup
	failed    atomic.Bool
	appendErr error // set by the appender before it returns
	appended  int64 // rows appended, owned by the appender
}

// flushBatch is one Append of a map task.
type flushBatch struct {
	data map[string][]arrow.RecordBatch
	rows int64
}

func (m *mapper) run(ctx context.Context, src source) error {
	var sums, hashes []uint64
	n := m.p.Job.Partitions
	by := m.p.Job.By
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.failed.Load() {
			return nil // the appender's error is returned
		}
		rec, err := src.next()
		if err != nil {
			return err
		}
		if rec == nil {
			break
		}
		rows := rec.NumRows()
		if rows == 0 {
			rec.Release()
			continue
		}
		bytesPerRow := float64(recordBytes(rec)) / float64(rows)
		if sums, err = RowChecksums(rec, sums); err != nil {
			rec.Release()
			return err
		}
		if hashes, err = arrowstore.HashRows(rec, by, hashes); err != nil {
			rec.Release()
			return err
		}
		for i, h := range hashes {
			m.stats.Parts[arrowstore.PartitionOf(h, n)].add(sums[i])
		}
		parts, err := arrowstore.Partition(ctx, rec, n, by...)
		rec.Release()
		if err != nil {
			return err
		}
		for q, part := range parts {
			if part.NumRows() == 0 {
				part.Release()
				continue
			}
			b := int64(bytesPerRow * float64(part.NumRows()))
			m.pending[q] = append(m.pending[q], part)
			m.partBytes[q] += b
			m.pendingBytes += b
		}
		m.stats.Rows += rows
		m.pendingRows += rows
		if m.pendingBytes >= m.p.Job.FlushBytes {
			m.flush()
		}
	}
	m.flush()
	return nil
}

// flush hands the pending pieces to the appender, as one Append.
func (m *mapper) flush() {
	if m.pendingRows == 0 {
		return
	}
	data := make(map[string][]arrow.RecordBatch)
	for q, recs := range m.pending {
		if len(recs) == 0 {
			continue
		}
		data[ChunkKey(m.p.Job.Prefix, q, m.task.ID, m.p.Attempt, m.seq[q])] = recs
		if m.keyBytes[q] += m.partBytes[q]; m.keyBytes[q] >= m.p.Job.KeyBytes {
			m.seq[q]++
			m.keyBytes[q] = 0
		}
		m.pending[q], m.partBytes[q] = nil, 0
	}
	m.work <- flushBatch{data: data, rows: m.pendingRows}
	m.pendingBytes, m.pendingRows = 0, 0
}

// appender appends what flush hands it, one Append at a time, and releases
// the batches. It first joins each key's pieces into one batch: the pieces
// are slices of arrowstore.Partition's gathered batch, and one compact
// batch per key is cheaper to encode, to size and to read back.
func (m *mapper) appender() {
	for fb := range m.work {
		if !m.failed.Load() {
			if err := m.appendJoined(m.mem, fb); err != nil {
				m.appendErr = fmt.Errorf("dfshuffle: task %d: appending to the store: %w", m.task.ID, err)
				m.failed.Store(true)
			} else {
				m.appended += fb.rows
				if m.progress != nil {
					m.progress(m.appended)
				}
			}
		}
		for _, recs := range fb.data {
			releaseAll(recs)
		}
	}
}

// appendGroupBytes is about the most bytes of joined batches one Append
// carries: the pieces of a flush go in a few Appends, so that the joined
// copies and their encoded streams are not all held at once.
const appendGroupBytes = 4 << 20

func (m *mapper) appendJoined(mem memory.Allocator, fb flushBatch) error {
	group := make(map[string][]arrow.RecordBatch)
	var groupBytes int64
	send := func() error {
		defer func() {
			for _, recs := range group {
				releaseAll(recs)
			}
			clear(group)
			groupBytes = 0
		}()
		if len(group) == 0 {
			return nil
		}
		return m.as.Append(group)
	}
	for _, k := range slices.Sorted(maps.Keys(fb.data)) {
		rec, err := joinBatches(mem, fb.data[k])
		if err != nil {
			send()
			return err
		}
		group[k] = []arrow.RecordBatch{rec}
		if groupBytes += recordBytes(rec); groupBytes >= appendGroupBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return send()
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// MapTasks runs the given map tasks of p one after another (a map worker
// process's share) and returns their stats. progress, if not nil, is
// called with the rows appended so far, over all the tasks.
func MapTasks(ctx context.Context, p *Plan, tasks []int, store partd.Store, progress func(rows int64)) ([]MapStats, error) {
	out := make([]MapStats, 0, len(tasks))
	var done int64
	for _, t := range tasks {
		var prog func(int64)
		if progress != nil {
			base := done
			prog = func(rows int64) { progress(base + rows) }
		}
		s, err := RunMapTask(ctx, p, t, store, prog)
		if err != nil {
			return nil, err
		}
		done += s.Rows
		out = append(out, s)
	}
	return out, nil
}

// recordBytes returns the bytes of the buffers of rec's columns.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		if dict := d.Dictionary(); dict != nil {
			n += dataBytes(dict)
		}
	}
	return n
}
