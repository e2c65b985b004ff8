package partd

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gopartd/partd/internal/keypath"
	"github.com/gopartd/partd/internal/sizeheap"
)

// spillTarget is the fraction of the limit a spill brings the fast store
// down to, so that one spill moves a batch of keys rather than one.
const spillTarget = 0.9

// Buffer is a Store that appends to a fast store and, whenever the fast
// store holds more than limit bytes, moves its largest keys to a slow store:
// Python partd's Buffer, typically NewBuffer(NewDict(), file, 2<<30).
//
// Unlike Python partd's Buffer, a key's bytes keep their append order across
// spills: Get returns what the slow store holds, then what the fast store
// holds, and a key's bytes only ever move from fast to slow whole, oldest
// first. The fast store never holds more than limit bytes: an Append or Set
// spills before it adds its bytes, and sends a value larger than the limit
// straight to the slow store.
//
// An Append or Set that returns an error has changed nothing; one that
// returns nil is in the store. If a spill moved keys to the slow store but
// the fast store then failed to delete them, the Buffer stops (every call
// returns that error) rather than return those bytes twice.
//
// The limit counts the bytes held. Go's collector lets the heap grow to
// about twice what is live before it collects, so a Dict of limit bytes on
// the heap would let the process grow to about twice the limit. So a fast
// store that is an empty Dict from NewDict is moved off the heap, as if
// from NewOffHeapDict: its bytes are neither counted nor scanned by the
// collector, and the process stays near the limit plus its working heap
// (the README gives the figures of the benchmarks). Spilling makes little
// garbage: a Dict reuses the memory of spilled keys, and spills through
// the slow store's AppendVectors (File, Log) without copying.
//
// A Buffer owns its two stores: while it is in use, nothing else may change
// them, and Close flushes the fast store into the slow one and closes both.
// (Drop first if the data is not wanted.)
type Buffer struct {
	fast, slow Store
	limit      int64

	mu     sync.RWMutex // guards the fields below; Get and Keys hold it for reading
	closed bool
	broken error          // set when a spill left keys in both stores: every call but Close fails
	loaded bool           // sizes and tree reflect fast and slow
	sizes  *sizeheap.Heap // bytes held in fast, by key
	nbytes int64          // bytes held in fast
	tree   *keypath.Tree  // keys held in fast or slow, to reject "x" beside "x/y"
	spills BufferStats    // the spill counters of Stats
}

var (
	_ Store       = (*Buffer)(nil)
	_ GetAppender = (*Buffer)(nil)
	_ Flusher     = (*Buffer)(nil)
	_ Sizer       = (*Buffer)(nil)
)

// NewBuffer returns a Buffer that holds up to limit bytes in fast and spills
// the largest keys to slow. Keys already in fast or slow count from the first
// change made through the Buffer.
func NewBuffer(fast, slow Store, limit int64) *Buffer {
	if d, ok := fast.(*Dict); ok {
		d.moveOffHeap()
	}
	return &Buffer{fast: fast, slow: slow, limit: max(limit, 0), sizes: sizeheap.New(), tree: keypath.NewTree()}
}

// loadLocked learns what fast and slow already hold. b.mu must be held for
// writing.
func (b *Buffer) loadLocked() error {
	if b.loaded {
		return nil
	}
	slowKeys, err := b.slow.Keys()
	if err != nil {
		return err
	}
	fastKeys, err := b.fast.Keys()
	if err != nil {
		return err
	}
	vals, err := b.fast.Get(fastKeys...)
	if err != nil {
		return err
	}
	for _, k := range slowKeys {
		b.tree.Add(k)
	}
	for i, k := range fastKeys {
		b.tree.Add(k)
		b.sizes.Add(k, int64(len(vals[i])))
		b.nbytes += int64(len(vals[i]))
	}
	b.loaded = true
	return nil
}

// usableLocked returns why the Buffer cannot serve op, or nil. b.mu must be
// held.
func (b *Buffer) usableLocked(op string) error {
	if b.closed {
		return errClosed(op)
	}
	return b.broken
}

// lockForChange takes b.mu for writing and checks the Buffer is usable.
func (b *Buffer) lockForChange(op string) error {
	b.mu.Lock()
	if err := b.usableLocked(op); err != nil {
		b.mu.Unlock()
		return err
	}
	if err := b.loadLocked(); err != nil {
		b.mu.Unlock()
		return err
	}
	return nil
}

// Append adds the batch to the fast store. If the batch would take the fast
// store past the limit, the largest keys are spilled first, to make room;
// a batch larger than the limit goes to the slow store (after everything
// in the fast one, so order holds). Either way an Append that returns an
// error has written nothing of its batch, and one that returns nil is in
// the store: a caller may retry a failed Append without duplicating data.
func (b *Buffer) Append(data map[string][]byte) error {
	if err := ValidateBatch(data); err != nil {
		return err
	}
	if err := b.lockForChange("append"); err != nil {
		return err
	}
	defer b.mu.Unlock()
	var n int64
	for k, v := range data {
		if len(v) == 0 {
			continue
		}
		if c := b.tree.Conflict(k); c != "" {
			return errConflict("append", k, c)
		}
		n += int64(len(v))
	}
	if err := b.makeRoomLocked(n); err != nil {
		return err
	}
	if n > b.limit { // makeRoomLocked emptied the fast store
		if err := b.slow.Append(data); err != nil {
			return err
		}
		for k, v := range data {
			if len(v) > 0 {
				b.tree.Add(k)
			}
		}
		return nil
	}
	if err := b.fast.Append(data); err != nil {
		return err
	}
	for k, v := range data {
		if len(v) > 0 {
			b.addedLocked(k, len(v))
		}
	}
	return nil
}

// addedLocked counts n bytes added to key in the fast store.
func (b *Buffer) addedLocked(key string, n int) {
	b.tree.Add(key)
	b.sizes.Add(key, int64(n))
	b.nbytes += int64(n)
}

// makeRoomLocked spills, before n more bytes are added to the fast store,
// so that they fit under the limit: down to spillTarget of the limit less
// n, so that one spill moves a batch of keys. If n alone exceeds the limit
// it spills everything.
func (b *Buffer) makeRoomLocked(n int64) error {
	if b.nbytes+n <= b.limit {
		return nil
	}
	return b.spillLocked(max(int64(float64(b.limit)*spillTarget)-n, 0))
}

// spillLocked moves the largest keys from fast to slow until fast holds at
// most target bytes, in rounds of about a tenth of the limit so that the
// bytes in flight stay small. b.mu must be held for writing. On error, the
// round that failed moved nothing.
func (b *Buffer) spillLocked(target int64) error {
	if b.nbytes <= target {
		return nil
	}
	start := time.Now()
	b.spills.Spills++
	defer func() { b.spills.SpillTime += time.Since(start) }()
	round := min(max(b.limit/10, 1<<20), 64<<20)
	for b.nbytes > target {
		if err := b.spillRoundLocked(min(b.nbytes-target, round)); err != nil {
			return err
		}
	}
	return nil
}

// spillRoundLocked moves the largest keys, at least want bytes of them
// (fewer if fast holds less), from fast to slow.
func (b *Buffer) spillRoundLocked(want int64) error {
	var keys []string
	var sizes []int64
	var freed int64
	for freed < want {
		k, size, ok := b.sizes.Pop()
		if !ok {
			break
		}
		keys = append(keys, k)
		sizes = append(sizes, size)
		freed += size
	}
	if len(keys) == 0 {
		b.nbytes = 0 // nothing left to move: the count had drifted
		return nil
	}
	restore := func() {
		for i, k := range keys {
			b.sizes.Add(k, sizes[i])
		}
	}
	if err := b.moveLocked(keys); err != nil {
		restore()
		return fmt.Errorf("%w (in a buffer spill; nothing of it was kept)", err)
	}
	b.nbytes -= freed
	b.spills.SpilledKeys += int64(len(keys))
	b.spills.SpilledBytes += freed
	if err := b.fast.Delete(keys...); err != nil {
		// The bytes are in slow now; a fast store that cannot delete them
		// would return them twice, so the Buffer stops serving here. Close
		// still moves the keys it has not moved and closes both stores.
		b.broken = fmt.Errorf("%w (in a buffer spill: the buffer stopped, to keep data whole)", err)
		return b.broken
	}
	return nil
}

// moveLocked appends the fast store's bytes of keys to the slow store: as
// the fast store's own chunks, written as they are, where the fast store is
// a ChunkViewer and the slow one a VectorAppender (a Dict and a File), with
// a copy otherwise.
func (b *Buffer) moveLocked(keys []string) error {
	return ViewChunks(b.fast, keys, func(chunks [][][]byte) error {
		return AppendVectors(b.slow, keys, chunks)
	})
}

// Flush moves everything the fast store holds to the slow store. It is safe
// to call while other goroutines append.
func (b *Buffer) Flush() error {
	if err := b.lockForChange("flush"); err != nil {
		return err
	}
	defer b.mu.Unlock()
	return b.spillLocked(0)
}

// Size returns the number of bytes held in the fast store.
func (b *Buffer) Size() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.nbytes
}

// BufferStats are a Buffer's figures, as Stats reports them.
type BufferStats struct {
	Limit        int64         // the most bytes the fast store holds
	FastBytes    int64         // bytes held in the fast store now, as Size reports
	Spills       int64         // spills begun: moves of keys to the slow store, to make room for an Append or a Set, or to flush
	SpilledKeys  int64         // keys moved to the slow store, once per spill that moved them
	SpilledBytes int64         // bytes moved to the slow store
	SpillTime    time.Duration // time spent spilling
}

// Stats returns the Buffer's figures: the bytes in its fast store and what
// it has spilled since NewBuffer. Like Size, it waits for a spill under way.
func (b *Buffer) Stats() BufferStats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	st := b.spills
	st.Limit, st.FastBytes = b.limit, b.nbytes
	return st
}

// Get returns each key's bytes from the slow store followed by its bytes in
// the fast store.
func (b *Buffer) Get(keys ...string) ([][]byte, error) { return b.GetAppend(nil, keys...) }

// GetAppend appends each key's bytes, from the slow store then from the
// fast one, to dst[i] (see GetAppender). With dst nil, each key's slice is
// allocated once where the slow store is a GetAppender (a File).
func (b *Buffer) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("get"); err != nil {
		return nil, err
	}
	return b.getLocked(dst, keys)
}

// getLocked appends each key's bytes, the slow store's then the fast
// store's, to dst[i]. A nil dst gets, for each key, room for what memory
// holds, after what the slow store reads in. b.mu is held.
func (b *Buffer) getLocked(dst [][]byte, keys []string) ([][]byte, error) {
	if dst == nil {
		// Each key's slice once, of its whole size where the slow store
		// tells its part (a Log, a File), so that neither store regrows it.
		dst = make([][]byte, len(keys))
		var slow []int64
		if ks, ok := b.slow.(KeySizer); ok {
			slow, _ = ks.Sizes(keys...) // only a hint: an error leaves it nil
		}
		for i, k := range keys {
			n := b.sizes.Size(k)
			if i < len(slow) {
				n += slow[i]
			}
			if n > 0 {
				dst[i] = make([]byte, 0, n)
			}
		}
	}
	out, err := GetAppend(b.slow, dst, keys...)
	if err != nil {
		return nil, err
	}
	return GetAppend(b.fast, out, keys...)
}

// Set replaces a key's bytes: it deletes the key from the slow store and
// sets it in the fast one, after making room there as Append does. A value
// larger than the limit is set in the slow store instead.
func (b *Buffer) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := b.lockForChange("set"); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if c := b.tree.Conflict(key); c != "" && len(value) > 0 {
		return errConflict("set", key, c)
	}
	n := int64(len(value))
	if n > b.limit {
		if err := b.slow.Set(key, value); err != nil {
			return err
		}
		if err := b.fast.Delete(key); err != nil {
			b.broken = fmt.Errorf("%w (in a buffer's set: the buffer stopped, to keep data whole)", err)
			return b.broken
		}
		b.nbytes -= b.sizes.Remove(key)
		b.tree.Add(key)
		return nil
	}
	if err := b.makeRoomLocked(n - b.sizes.Size(key)); err != nil {
		return err
	}
	if err := b.slow.Delete(key); err != nil {
		return err
	}
	if err := b.fast.Set(key, value); err != nil {
		return err
	}
	b.nbytes -= b.sizes.Remove(key)
	if n == 0 {
		b.tree.Remove(key)
		return nil
	}
	b.addedLocked(key, len(value))
	return nil
}

// Delete removes keys from both stores.
func (b *Buffer) Delete(keys ...string) error {
	if err := b.lockForChange("delete"); err != nil {
		return err
	}
	defer b.mu.Unlock()
	err := errors.Join(b.fast.Delete(keys...), b.slow.Delete(keys...))
	for _, k := range keys {
		b.nbytes -= b.sizes.Remove(k)
		b.tree.Remove(k)
	}
	return err
}

// Keys returns the keys of both stores, sorted.
func (b *Buffer) Keys() ([]string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.usableLocked("keys"); err != nil {
		return nil, err
	}
	slow, err := b.slow.Keys()
	if err != nil {
		return nil, err
	}
	fast, err := b.fast.Keys()
	if err != nil {
		return nil, err
	}
	keys := append(slow, fast...)
	slices.Sort(keys)
	return slices.Compact(keys), nil
}

// Drop empties both stores.
func (b *Buffer) Drop() error {
	if err := b.lockForChange("drop"); err != nil {
		return err
	}
	defer b.mu.Unlock()
	err := errors.Join(b.fast.Drop(), b.slow.Drop())
	b.sizes.Clear()
	b.tree.Clear()
	b.nbytes = 0
	return err
}

// Close flushes the fast store into the slow one and closes both. If the
// flush fails, both stores are still closed and the error says what was not
// moved. A Buffer stopped by a failed spill (see Append) still moves the
// keys it had not moved, and closes both stores.
func (b *Buffer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	var err error
	if b.loaded {
		err = b.spillLocked(0)
	}
	b.closed = true
	return errors.Join(err, b.fast.Close(), b.slow.Close())
}
