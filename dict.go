package partd

import (
	"bytes"
	"fmt"
	"maps"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/gopartd/partd/internal/arena"
	"github.com/gopartd/partd/internal/keypath"
)

// Dict is an in-memory Store, Python partd's Dict. The zero value is not
// usable; call NewDict.
//
// A key's bytes live in chunks that grow with the key (beyond 32 KiB, each
// between a sixteenth and an eighth of what the key holds, so at most 12% is
// slack), appends copy
// each byte once, and the chunks of deleted keys are reused by later
// appends, so a Dict that is filled and emptied over and over, as a
// Buffer's fast store is, makes little garbage.
type Dict struct {
	mu      sync.RWMutex // guards everything below
	closed  bool
	data    map[string]*entry
	tree    *keypath.Tree
	nbytes  int64
	free    [numClasses][][]byte // chunks of deleted keys, by size class
	freeLen int64                // bytes in free
	pending []pendingAppend      // scratch for Append
	mem     *arena.Arena         // off-heap chunks (NewOffHeapDict, or once d holds offHeapAt bytes), or nil
}

// offHeapAt is what a Dict from NewDict holds when it moves its bytes off
// the heap: below it, a small Dict costs no mapping of its own; above it,
// filling fresh memory of the heap page by page (a fault each 4 KiB) costs
// more than the copy into it, where an arena's slabs fault once per 2 MiB
// huge page.
const offHeapAt = 1 << 20

// arenaChunk is the most an off-heap Dict's chunk holds unless a value
// needs a whole MaxChunk: chunks of one size, reused by whatever key
// grows next, leave the arena's slabs little room the buddy system cannot
// hand out. (Chunks sized to their keys, 2 to 64 KiB, left a quarter of
// the slabs free in pieces too small for the next chunk: a Buffer of 64 MiB
// under W5 mapped 80 MiB for 60 MiB held; with 2 KiB chunks, 66 MiB.)
const arenaChunk = 2 << 10

type entry struct {
	chunks [][]byte // every chunk is full but the last
	size   int64
}

type pendingAppend struct {
	e *entry
	v []byte
}

const (
	minChunkShift = 7  // 128 B
	maxChunkShift = 16 // 64 KiB; larger values get a chunk of their own size
	numClasses    = maxChunkShift - minChunkShift + 1
	maxFreeBytes  = 64 << 20
	// freeShare bounds the free chunks kept to 1/freeShare of the bytes held.
	freeShare = 8
)

var (
	_ Store        = (*Dict)(nil)
	_ ChunkViewer  = (*Dict)(nil)
	_ GetAppender  = (*Dict)(nil)
	_ Sizer        = (*Dict)(nil)
	_ KeySizer     = (*Dict)(nil)
	_ PrefixLister = (*Dict)(nil)
	_ KeyPager     = (*Dict)(nil)
	_ Popper       = (*Dict)(nil)
)

// NewDict returns an empty in-memory store. It keeps its bytes on the heap
// while it holds little; once it holds 1 MiB it moves them off the heap,
// as NewOffHeapDict's are (see there), where filling them costs a fault per
// huge page instead of one per small page.
func NewDict() *Dict {
	return &Dict{data: make(map[string]*entry), tree: keypath.NewTree()}
}

// NewOffHeapDict returns an empty in-memory store that keeps its bytes
// outside the Go heap, in memory it maps itself (on Windows and other
// systems without mmap here, in the heap as NewDict does). The collector
// neither scans nor counts them, so it paces itself by the rest of the heap:
// a process whose Buffer holds limit bytes in such a Dict stays near limit
// plus its working heap without GOMEMLIMIT, where a heap Dict lets the
// collector's target grow to twice what is live.
//
// Its chunks hold at most 2 KiB (64 KiB for large values) and come from
// slabs of 2 MiB; chunks of deleted keys are reused for any later key, and
// wholly free slabs beyond a few spare ones are unmapped; Drop and Close
// unmap everything. Get copies
// out, so nothing the Dict gives a caller points into its memory, except
// the views ViewChunks lends for the length of its callback.
func NewOffHeapDict() *Dict {
	d := NewDict()
	d.useArena()
	return d
}

// useArena makes d keep its chunks in an arena of its own, which is reset
// (unmapped) when d is closed or dropped, or else when d is collected.
func (d *Dict) useArena() {
	d.mem = arena.New()
	runtime.AddCleanup(d, func(a *arena.Arena) { a.Reset() }, d.mem)
}

// moveOffHeap makes d keep its bytes off the heap, as NewOffHeapDict's
// does, if it holds nothing yet (NewBuffer's fast store).
func (d *Dict) moveOffHeap() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mem == nil && !d.closed && len(d.data) == 0 {
		clear(d.free[:])
		d.freeLen = 0
		d.useArena()
	}
}

// maybeMoveOffHeapLocked moves d's chunks into an arena of its own once d
// holds offHeapAt bytes (see offHeapAt), copying each key's bytes once.
// Nothing outside d points into its chunks between calls (Get copies out;
// ViewChunks' views last for its callback), so the move is unseen. d.mu is
// held for writing.
func (d *Dict) maybeMoveOffHeapLocked() {
	if d.mem != nil || d.nbytes < offHeapAt || !arena.OffHeap {
		return
	}
	d.useArena()
	clear(d.free[:]) // the heap's: the collector takes them
	d.freeLen = 0
	held := d.nbytes
	for _, e := range d.data {
		old := e.chunks
		e.chunks, e.size = nil, 0
		for _, c := range old {
			d.appendLocked(e, c)
		}
	}
	d.nbytes = held
}

// usableLocked returns why d cannot serve op (it is closed), or nil. d.mu
// is held.
func (d *Dict) usableLocked(op string) error {
	if d.closed {
		return errClosed(op)
	}
	return nil
}

// Append adds each value to the end of its key. It copies the values.
func (d *Dict) Append(data map[string][]byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("append"); err != nil {
		return err
	}
	d.maybeMoveOffHeapLocked()
	// Keys already held were validated when they were added; only new keys
	// need the rules checked, before anything is written.
	pending := d.pending[:0]
	var fresh map[string][]byte
	for k, v := range data {
		if e, ok := d.data[k]; ok {
			if len(v) > 0 {
				pending = append(pending, pendingAppend{e, v})
			}
			continue
		}
		if fresh == nil {
			fresh = make(map[string][]byte)
		}
		fresh[k] = v
	}
	d.pending = pending[:0]
	if fresh != nil {
		if err := ValidateBatch(fresh); err != nil {
			return err
		}
		for k, v := range fresh {
			if len(v) == 0 {
				continue
			}
			if c := d.tree.Conflict(k); c != "" {
				return errConflict("append", k, c)
			}
		}
		for k, v := range fresh {
			if len(v) == 0 {
				continue
			}
			e := &entry{}
			d.data[k] = e
			d.tree.Add(k)
			pending = append(pending, pendingAppend{e, v})
		}
	}
	for _, p := range pending {
		d.appendLocked(p.e, p.v)
	}
	clear(pending) // drop references to the caller's values
	return nil
}

// appendLocked copies v to the end of e. d.mu must be held for writing.
func (d *Dict) appendLocked(e *entry, v []byte) {
	d.nbytes += int64(len(v))
	e.size += int64(len(v))
	if n := len(e.chunks); n > 0 {
		last := e.chunks[n-1]
		k := min(cap(last)-len(last), len(v))
		e.chunks[n-1] = append(last, v[:k]...)
		v = v[k:]
	}
	for len(v) > 0 {
		c := d.newChunk(e.size, len(v))
		k := min(cap(c), len(v))
		e.chunks = append(e.chunks, append(c, v[:k]...))
		v = v[k:]
	}
}

// chunkClass returns the size class of the next chunk for a key holding
// size bytes (counting the value being added): about the key's size while it
// is small (few chunks for small keys), 2 KiB up to 32 KiB, and a sixteenth
// of the key beyond (little slack for large ones).
func chunkClass(size int64) int {
	target := max(size/16, min(size, 2<<10), 1)
	shift := bits.Len64(uint64(target - 1)) // the power of two ≥ target
	return min(max(shift, minChunkShift), maxChunkShift) - minChunkShift
}

// newChunk returns an empty chunk for a key that will hold size bytes and
// still needs need bytes of room. d.mu must be held for writing.
func (d *Dict) newChunk(size int64, need int) []byte {
	class := chunkClass(size)
	if d.mem != nil {
		// Off the heap even a large value goes into chunks of at most
		// 64 KiB, from the arena's slabs: they are reused when freed and
		// backed by huge pages, where a chunk of its own size would be a
		// mapping of its own, faulted in page by page. Small values go into
		// chunks of at most arenaChunk.
		n := 1 << (class + minChunkShift)
		if n > arenaChunk && need < arena.MaxChunk {
			n = arenaChunk
		}
		if c, err := d.mem.Alloc(n); err == nil {
			return c
		}
		return make([]byte, 0, n) // no memory to map: the heap's, which release lets go
	}
	if capacity := 1 << (class + minChunkShift); need >= capacity && class == numClasses-1 {
		return make([]byte, 0, need) // a large value: a chunk of its own size
	}
	// A free chunk of this class, or of the next: deleted keys were large,
	// and new keys start small.
	for c := class; c <= min(class+1, numClasses-1); c++ {
		if n := len(d.free[c]); n > 0 {
			chunk := d.free[c][n-1]
			d.free[c] = d.free[c][:n-1]
			d.freeLen -= int64(cap(chunk))
			return chunk
		}
	}
	return make([]byte, 0, 1<<(class+minChunkShift))
}

// release keeps e's chunks for reuse, up to an eighth of the bytes held
// and maxFreeBytes; the rest is left to the garbage collector. d.mu must be
// held for writing.
func (d *Dict) release(e *entry) {
	if d.mem != nil {
		for _, c := range e.chunks {
			d.mem.Free(c) // an error means a heap chunk: the collector's
		}
		e.chunks = nil
		return
	}
	keep := min(d.nbytes/freeShare, maxFreeBytes)
	for _, c := range e.chunks {
		shift := bits.Len(uint(cap(c))) - 1
		if 1<<shift != cap(c) || shift < minChunkShift || shift > maxChunkShift || d.freeLen+int64(cap(c)) > keep {
			continue
		}
		d.free[shift-minChunkShift] = append(d.free[shift-minChunkShift], c[:0])
		d.freeLen += int64(cap(c))
	}
	e.chunks = nil
}

// bytes returns a copy of e's bytes in one slice. (bytes.Join does not
// zero the memory it is about to overwrite.)
func (e *entry) bytes() []byte { return bytes.Join(e.chunks, nil) }

// Get returns a copy of each key's bytes.
func (d *Dict) Get(keys ...string) ([][]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("get"); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := d.data[k]; ok {
			out[i] = e.bytes()
		}
	}
	return out, nil
}

// ViewChunks calls fn with the chunks holding each key's bytes, without
// copying them, while holding d's read lock: fn must not change the chunks
// or call d. A Buffer spills a Dict through it.
func (d *Dict) ViewChunks(keys []string, fn func(chunks [][][]byte) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("get"); err != nil {
		return err
	}
	out := make([][][]byte, len(keys))
	for i, k := range keys {
		if e, ok := d.data[k]; ok {
			out[i] = e.chunks
		}
	}
	return fn(out)
}

// GetAppend appends the bytes of keys[i] to dst[i], growing it at most once,
// and returns the extended slices. dst is nil or has one slice per key.
func (d *Dict) GetAppend(dst [][]byte, keys ...string) ([][]byte, error) {
	dst, err := getAppendDst(dst, keys)
	if err != nil {
		return nil, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("get"); err != nil {
		return nil, err
	}
	for i, k := range keys {
		if e, ok := d.data[k]; ok {
			dst[i] = slices.Grow(dst[i], int(e.size))
			for _, c := range e.chunks {
				dst[i] = append(dst[i], c...)
			}
		}
	}
	return dst, nil
}

// Set replaces a key's bytes with a copy of value.
func (d *Dict) Set(key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("set"); err != nil {
		return err
	}
	if len(value) == 0 {
		d.deleteLocked(key)
		return nil
	}
	if c := d.tree.Conflict(key); c != "" {
		return errConflict("set", key, c)
	}
	d.deleteLocked(key)
	d.maybeMoveOffHeapLocked()
	e := &entry{}
	d.data[key] = e
	d.tree.Add(key)
	d.appendLocked(e, value)
	return nil
}

// Delete removes keys.
func (d *Dict) Delete(keys ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("delete"); err != nil {
		return err
	}
	for _, k := range keys {
		d.deleteLocked(k)
	}
	return nil
}

// deleteLocked removes key. d.mu must be held for writing.
func (d *Dict) deleteLocked(key string) {
	if e, ok := d.data[key]; ok {
		d.nbytes -= e.size
		d.release(e)
		delete(d.data, key)
		d.tree.Remove(key)
	}
}

// Keys returns every key, sorted.
func (d *Dict) Keys() ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("keys"); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(d.data))
	for k := range d.data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// Sizes returns the number of bytes each key holds, from the Dict's
// counters.
func (d *Dict) Sizes(keys ...string) ([]int64, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("sizes"); err != nil {
		return nil, err
	}
	sizes := make([]int64, len(keys))
	for i, k := range keys {
		if e, ok := d.data[k]; ok {
			sizes[i] = e.size
		}
	}
	return sizes, nil
}

// KeysPrefix returns the keys that start with prefix, sorted.
func (d *Dict) KeysPrefix(prefix string) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("keys"); err != nil {
		return nil, err
	}
	var keys []string
	for k := range d.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// KeysPage returns, sorted, at most limit keys that start with prefix and
// sort after after (see KeyPager). Each page scans every key once.
func (d *Dict) KeysPage(prefix, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("partd: keys page: limit %d is not positive", limit)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.usableLocked("keys"); err != nil {
		return nil, err
	}
	return smallestAfter(maps.Keys(d.data), prefix, after, limit), nil
}

// Pop returns a copy of each key's bytes and deletes the keys, under one
// lock: no Append lands between the two.
func (d *Dict) Pop(keys ...string) ([][]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("pop"); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := d.data[k]; ok {
			out[i] = e.bytes()
		}
	}
	for _, k := range keys {
		d.deleteLocked(k)
	}
	return out, nil
}

// Drop removes every key and lets go of the memory.
func (d *Dict) Drop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usableLocked("drop"); err != nil {
		return err
	}
	d.resetLocked()
	d.tree.Clear()
	return nil
}

func (d *Dict) resetLocked() {
	if d.mem != nil {
		d.mem.Reset() // no entry points into it any more
	}
	d.data = make(map[string]*entry)
	d.nbytes = 0
	d.free = [numClasses][][]byte{}
	d.freeLen = 0
	d.pending = nil
}

// Size returns the number of bytes held.
func (d *Dict) Size() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.nbytes
}

// Close releases the memory. Later calls return ErrClosed.
func (d *Dict) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.resetLocked()
	return nil
}
