package dfshuffle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/compute"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/arrowstore"
)

// ReduceStats is what a reducer read of one partition and wrote.
type ReduceStats struct {
	Partition int      `json:"partition"`
	Stats     Stats    `json:"stats"`           // the rows written and their checksum
	Files     []string `json:"files,omitempty"` // the files written, names in the output directory
	Bytes     int64    `json:"bytes"`           // bytes read from the store
	FileBytes int64    `json:"file_bytes"`      // bytes of the files written
}

// RunReduce reduces partition part of p: it lists the partition's keys in
// store (PartitionPrefix), reads them key after key and batch after batch
// (arrowstore's Reader), checks that every row belongs to the partition,
// and writes the rows to the partition's file(s) in the staging directory.
// Each file is written under a temporary name, and the partition's files get
// their final names only once all of them are complete. It returns the rows
// written and their checksum. A partition without rows writes no file.
func RunReduce(ctx context.Context, p *Plan, part int, store partd.Store) (ReduceStats, error) {
	if part < 0 || part >= p.Job.Partitions {
		return ReduceStats{}, fmt.Errorf("dfshuffle: no partition %d (the plan has %d)", part, p.Job.Partitions)
	}
	rs := ReduceStats{Partition: part}
	if err := removePartFiles(p.Staging, part); err != nil {
		return rs, err
	}
	keys, err := partd.KeysPrefix(store, PartitionPrefix(p.Job.Prefix, part))
	if err != nil {
		return rs, fmt.Errorf("dfshuffle: partition %d: listing its keys: %w", part, err)
	}
	if keys, err = p.committedKeys(keys); err != nil {
		return rs, fmt.Errorf("dfshuffle: partition %d: %w", part, err)
	}
	if len(keys) == 0 {
		return rs, nil
	}
	mem := compute.GetAllocator(ctx)
	cs := &counter{Store: store}
	pf := newPrefetcher(cs, keys)
	defer pf.wait()
	as, err := arrowstore.New(pf, arrowstore.WithSchema(p.schema), arrowstore.WithAllocator(mem))
	if err != nil {
		return rs, err
	}
	rd, err := as.Reader(keys...)
	if err != nil {
		return rs, fmt.Errorf("dfshuffle: partition %d: %w", part, err)
	}
	defer rd.Release()
	w := newPartWriter(p, part, mem)
	err = reduceBatches(ctx, p, part, rd, w, &rs.Stats)
	if err != nil {
		w.abort()
		return rs, err
	}
	if rs.Files, rs.FileBytes, err = w.finish(); err != nil {
		w.abort()
		return rs, fmt.Errorf("dfshuffle: partition %d: writing: %w", part, err)
	}
	rs.Bytes = cs.read.Load()
	return rs, nil
}

func reduceBatches(ctx context.Context, p *Plan, part int, rd *arrowstore.Reader, w *partWriter, st *Stats) error {
	var sums, hashes []uint64
	n := p.Job.Partitions
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rd.RecordBatch()
		var err error
		if hashes, err = arrowstore.HashRows(rec, p.Job.By, hashes); err != nil {
			return err
		}
		for i, h := range hashes {
			if q := arrowstore.PartitionOf(h, n); q != part {
				return fmt.Errorf("dfshuffle: partition %d holds a row of partition %d (row %d of a batch of %d)", part, q, i, len(hashes))
			}
		}
		if sums, err = RowChecksums(rec, sums); err != nil {
			return err
		}
		for _, h := range sums {
			st.add(h)
		}
		if err := w.write(rec); err != nil {
			return fmt.Errorf("dfshuffle: partition %d: writing: %w", part, err)
		}
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("dfshuffle: partition %d: reading the store: %w", part, err)
	}
	return nil
}

// committedKeys returns the keys of keys that the committed attempt of
// their task wrote (all of them if p.Committed is nil), in their order.
func (p *Plan) committedKeys(keys []string) ([]string, error) {
	if p.Committed == nil {
		return keys, nil
	}
	out := keys[:0:0]
	for _, k := range keys {
		task, attempt, ok := chunkAttempt(k)
		if !ok {
			return nil, fmt.Errorf("key %q is not a map task's", k)
		}
		if a, ok := p.Committed[task]; ok && a == attempt {
			out = append(out, k)
		}
	}
	return out, nil
}

// partialSuffix ends the name of a partition file being written.
const partialSuffix = ".partial"

// removePartFiles removes what an earlier attempt at partition part left
// in dir.
func removePartFiles(dir string, part int) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	stem := fmt.Sprintf("part-%05d", part)
	for _, e := range ents {
		if rest, ok := strings.CutPrefix(e.Name(), stem); !ok || rest == "" || rest[0] != '.' && rest[0] != '-' {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// ReduceParts reduces the given partitions of p one after another (a reduce
// worker process's share) and returns their stats. progress, if not nil,
// is called with the number of partitions done after each.
func ReduceParts(ctx context.Context, p *Plan, parts []int, store partd.Store, progress func(done int)) ([]ReduceStats, error) {
	out := make([]ReduceStats, 0, len(parts))
	for i, part := range parts {
		s, err := RunReduce(ctx, p, part, store)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if progress != nil {
			progress(i + 1)
		}
	}
	return out, nil
}

// Cleanup deletes every key of store under prefix/ (a shuffle's pieces) and
// returns how many it deleted. A store that cannot list its keys (Python
// partd's server) returns an error wrapping errors.ErrUnsupported.
func Cleanup(store partd.Store, prefix string) (int, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	keys, err := partd.KeysPrefix(store, prefix+"/")
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	return len(keys), store.Delete(keys...)
}

// prefetcher is a partd.Store that, when asked for one of keys (in the
// order arrowstore's Reader asks for them, one at a time), already fetches
// the next one, so that a reducer's Gets from a server overlap with its
// decoding and encoding. It holds at most one key ahead.
type prefetcher struct {
	partd.Store
	keys  []string
	index map[string]int

	mu    sync.Mutex
	ahead int             // the index of the key being fetched ahead, or -1
	got   chan prefetched // its result
	wg    sync.WaitGroup  // the fetch in flight
}

type prefetched struct {
	val []byte
	err error
}

func newPrefetcher(s partd.Store, keys []string) *prefetcher {
	p := &prefetcher{Store: s, keys: keys, index: make(map[string]int, len(keys)), ahead: -1}
	for i, k := range keys {
		p.index[k] = i
	}
	return p
}

// Get returns keys' bytes; a single key of the list may come from the
// fetch ahead, and starts the fetch of the key after it.
func (p *prefetcher) Get(keys ...string) ([][]byte, error) {
	if len(keys) != 1 {
		return p.Store.Get(keys...)
	}
	i, ok := p.index[keys[0]]
	if !ok {
		return p.Store.Get(keys...)
	}
	p.mu.Lock()
	var ch chan prefetched
	if p.ahead == i {
		ch = p.got
		p.ahead, p.got = -1, nil
	}
	if i+1 < len(p.keys) && p.ahead < 0 {
		next := make(chan prefetched, 1)
		p.ahead, p.got = i+1, next
		key := p.keys[i+1]
		p.wg.Go(func() {
			vals, err := p.Store.Get(key)
			var v []byte
			if err == nil && len(vals) == 1 {
				v = vals[0]
			}
			next <- prefetched{v, err}
		})
	}
	p.mu.Unlock()
	if ch == nil {
		return p.Store.Get(keys...)
	}
	r := <-ch
	if r.err != nil {
		return nil, r.err
	}
	return [][]byte{r.val}, nil
}

// wait waits for a fetch still in flight.
func (p *prefetcher) wait() { p.wg.Wait() }
