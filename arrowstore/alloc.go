package arrowstore

import (
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// tracker is the allocator a decoder hands arrow-go: it passes every call
// to the Store's allocator and remembers what is live, and when. arrow-go's
// IPC reader leaks memory when it fails on corrupt bytes: its loader
// panics between allocating a buffer and deferring its release, and an
// array whose construction panics keeps its reference to its data (and
// so to a dictionary read earlier). So after a failed read the decoder
// frees what that read allocated and nothing released (freeSince), and
// Get, which releases every batch of the key on failure, frees all that
// is left (freeSince(0)). A Free of memory it already freed, or never saw,
// is ignored.
type tracker struct {
	mem   memory.Allocator
	mu    sync.Mutex
	live  map[*byte]allocation // guarded by mu
	epoch uint64               // guarded by mu
}

type allocation struct {
	b     []byte
	epoch uint64
}

var _ memory.Allocator = (*tracker)(nil)

func newTracker(mem memory.Allocator) *tracker {
	return &tracker{mem: mem, live: make(map[*byte]allocation)}
}

// Allocate allocates from the Store's allocator.
func (t *tracker) Allocate(size int) []byte {
	b := t.mem.Allocate(size)
	if cap(b) > 0 {
		t.mu.Lock()
		t.live[unsafe.SliceData(b)] = allocation{b, t.epoch}
		t.mu.Unlock()
	}
	return b
}

// Reallocate reallocates with the Store's allocator.
func (t *tracker) Reallocate(size int, b []byte) []byte {
	t.mu.Lock()
	a, ok := t.live[unsafe.SliceData(b)]
	if cap(b) > 0 {
		delete(t.live, unsafe.SliceData(b))
	}
	t.mu.Unlock()
	if !ok {
		a.epoch = t.current()
	}
	nb := t.mem.Reallocate(size, b)
	if cap(nb) > 0 {
		t.mu.Lock()
		t.live[unsafe.SliceData(nb)] = allocation{nb, a.epoch}
		t.mu.Unlock()
	}
	return nb
}

// Free frees b with the Store's allocator, once.
func (t *tracker) Free(b []byte) {
	if cap(b) == 0 {
		return
	}
	t.mu.Lock()
	a, ok := t.live[unsafe.SliceData(b)]
	delete(t.live, unsafe.SliceData(b))
	t.mu.Unlock()
	if ok {
		t.mem.Free(a.b)
	}
}

func (t *tracker) current() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.epoch
}

// begin starts a read: what it allocates is marked with a new epoch.
func (t *tracker) begin() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
	return t.epoch
}

// freeSince frees what was allocated since the read that began epoch e
// and is still live: after a failed read, which returned nothing, only
// arrow-go's leaks.
func (t *tracker) freeSince(e uint64) {
	t.mu.Lock()
	var leaked [][]byte
	for p, a := range t.live {
		if a.epoch >= e {
			leaked = append(leaked, a.b)
			delete(t.live, p)
		}
	}
	t.mu.Unlock()
	for _, b := range leaked {
		t.mem.Free(b)
	}
}
