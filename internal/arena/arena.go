// Package arena allocates byte chunks outside the Go heap, so that memory a
// store holds for long (a Buffer's fast store) is neither scanned nor counted
// by the garbage collector: the heap the collector paces itself by stays
// small, and a process holding N bytes in an arena stays near N bytes plus
// its working heap without GOMEMLIMIT.
//
// Chunks of 128 B to 64 KiB (powers of two) come from 2 MiB slabs by the
// buddy system: a free block is split in halves until it has the size asked
// for, and a freed block merges with its free buddy, so memory freed by one
// size serves any other. Slabs are aligned to 2 MiB and, on Linux, asked to
// be backed by transparent huge pages (MADV_HUGEPAGE), so that filling a
// slab costs one page fault instead of 512: first touches of fresh memory are
// most of what copying into it costs. While an arena grows, the next slab is
// mapped and faulted in ahead by a goroutine of its own (on another core,
// where there is one), so that the owner's copies land in memory already
// backed. Larger chunks are mapped one by one and
// unmapped when freed. Wholly free slabs are kept for reuse, up to
// maxSpare of them; the others are unmapped.
//
// An Arena is not safe for concurrent use; its owner serializes calls. A
// chunk must not be used after Free or Reset: the memory may be unmapped,
// and touching it then is a fault, not a data race the race detector sees.
package arena

import (
	"fmt"
	"slices"
	"unsafe"
)

const (
	// MinChunk and MaxChunk are the sizes served from slabs.
	MinChunk = 128
	MaxChunk = 64 << 10

	minShift  = 7
	slabShift = 21
	slabSize  = 1 << slabShift
	maxOrder  = slabShift - minShift // a whole slab
	slabUnits = slabSize / MinChunk
)

// slab is one mapped region divided into blocks of MinChunk units.
type slab struct {
	mem  []byte
	base uintptr
	// free[i] is order+1 if a free block of that order starts at unit i,
	// else 0.
	free [slabUnits]uint8
}

// OffHeap says whether an Arena maps its memory itself, outside the Go
// heap: not on systems without mmap here, where it takes it from the heap.
const OffHeap = mapsOwnMemory

// Arena hands out chunks; the zero value is not usable, call New.
type Arena struct {
	slabs     []*slab // sorted by base
	lists     [maxOrder + 1][]blockRef
	large     map[uintptr][]byte
	spare     []*slab // wholly free slabs kept for reuse, at most maxSpare
	mapped    int64   // bytes mapped
	mapFn     func(int) ([]byte, error)
	mapSlabFn func(int) ([]byte, error) // slabSize bytes, aligned to slabSize
	unmapFn   func([]byte) error
	// ahead delivers the slab a goroutine maps and faults in ahead of need
	// (see fetchAhead), or is nil when none is on its way.
	ahead chan slabResult
}

type slabResult struct {
	mem []byte
	err error
}

type blockRef struct {
	s    *slab
	unit uint32
}

// New returns an empty Arena.
func New() *Arena {
	return &Arena{large: make(map[uintptr][]byte), mapFn: mapMemory, mapSlabFn: mapSlab, unmapFn: unmapMemory}
}

// Mapped returns the bytes the arena holds mapped, in use or free.
func (a *Arena) Mapped() int64 { return a.mapped }

// orderOf returns the buddy order of a chunk of n bytes (a power of two in
// [MinChunk, MaxChunk]).
func orderOf(n int) (int, bool) {
	if n < MinChunk || n > MaxChunk || n&(n-1) != 0 {
		return 0, false
	}
	o := 0
	for 1<<(o+minShift) < n {
		o++
	}
	return o, true
}

// Alloc returns a chunk of length 0 and capacity n: exactly n for a power
// of two in [MinChunk, MaxChunk], n rounded up to a whole page above
// MaxChunk.
func (a *Arena) Alloc(n int) ([]byte, error) {
	if order, ok := orderOf(n); ok {
		return a.allocBlock(order)
	}
	if n <= MaxChunk {
		return nil, fmt.Errorf("arena: %d bytes is not a power of two in [%d, %d]", n, MinChunk, MaxChunk)
	}
	mem, err := a.mapFn(n)
	if err != nil {
		return nil, err
	}
	a.large[uintptr(unsafe.Pointer(unsafe.SliceData(mem)))] = mem
	a.mapped += int64(cap(mem))
	return mem[:0:n], nil
}

func (a *Arena) allocBlock(order int) ([]byte, error) {
	k := order
	var b blockRef
	for ; k <= maxOrder; k++ {
		if r, ok := a.pop(k); ok {
			b = r
			break
		}
	}
	if k > maxOrder {
		s, err := a.newSlab()
		if err != nil {
			return nil, err
		}
		b, k = blockRef{s: s}, maxOrder
	}
	// Split down to the order asked for: the upper halves go free.
	for k > order {
		k--
		upper := b.unit + 1<<k
		b.s.free[upper] = uint8(k + 1)
		a.lists[k] = append(a.lists[k], blockRef{b.s, upper})
	}
	size := 1 << (order + minShift)
	off := int(b.unit) * MinChunk
	return b.s.mem[off : off : off+size], nil
}

// pop takes a free block of order k, skipping list entries that a merge
// made stale.
func (a *Arena) pop(k int) (blockRef, bool) {
	l := a.lists[k]
	for len(l) > 0 {
		r := l[len(l)-1]
		l = l[:len(l)-1]
		if r.s.mem != nil && r.s.free[r.unit] == uint8(k+1) {
			r.s.free[r.unit] = 0
			a.lists[k] = l
			return r, true
		}
	}
	a.lists[k] = l
	return blockRef{}, false
}

// maxSpare is how many wholly free slabs an arena keeps mapped for reuse.
const maxSpare = 4

func (a *Arena) newSlab() (*slab, error) {
	if n := len(a.spare); n > 0 {
		s := a.spare[n-1]
		a.spare = a.spare[:n-1]
		s.free[0] = 0
		return s, nil
	}
	mem, ok := a.takeAhead()
	if !ok {
		var err error
		if mem, err = a.mapSlabFn(slabSize); err != nil {
			return nil, err
		}
	}
	a.fetchAhead()
	s := &slab{mem: mem[:slabSize], base: uintptr(unsafe.Pointer(unsafe.SliceData(mem)))}
	i, _ := slices.BinarySearchFunc(a.slabs, s.base, func(x *slab, b uintptr) int {
		switch {
		case x.base < b:
			return -1
		case x.base > b:
			return 1
		}
		return 0
	})
	a.slabs = slices.Insert(a.slabs, i, s)
	a.mapped += slabSize
	return s, nil
}

// fetchAhead starts mapping and faulting in the next slab in a goroutine,
// unless one is on its way: an arena that needed a new slab is growing and
// will likely need another. Faulting in a huge page zeroes 2 MiB, most of
// what filling a fresh slab costs; done ahead, on another core, it is off
// the owner's path. The goroutine also touches each page after faulting it
// in: on a virtual machine whose host keeps page tables of its own, a
// page's first touch costs an exit to the host even so.
func (a *Arena) fetchAhead() {
	if a.ahead != nil || !mapsOwnMemory {
		return
	}
	ch := make(chan slabResult, 1)
	a.ahead = ch
	mapSlab := a.mapSlabFn
	go func() {
		mem, err := mapSlab(slabSize)
		if err == nil {
			populate(mem)
			touch(mem)
		}
		ch <- slabResult{mem, err}
	}()
}

// takeAhead returns the slab fetchAhead mapped, if it is ready.
func (a *Arena) takeAhead() ([]byte, bool) {
	if a.ahead == nil {
		return nil, false
	}
	select {
	case r := <-a.ahead:
		a.ahead = nil
		return r.mem, r.err == nil
	default:
		return nil, false
	}
}

// slabOf returns the slab holding address p, or nil.
func (a *Arena) slabOf(p uintptr) *slab {
	i, found := slices.BinarySearchFunc(a.slabs, p, func(x *slab, b uintptr) int {
		switch {
		case x.base+slabSize <= b:
			return -1
		case x.base > b:
			return 1
		}
		return 0
	})
	if !found {
		return nil
	}
	return a.slabs[i]
}

// Free gives back a chunk that Alloc returned (any length, the same
// capacity).
func (a *Arena) Free(c []byte) error {
	if cap(c) == 0 {
		return nil
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(c[:1])))
	if mem, ok := a.large[p]; ok {
		delete(a.large, p)
		a.mapped -= int64(cap(mem))
		return a.unmapFn(mem)
	}
	s := a.slabOf(p)
	order, ok := orderOf(cap(c))
	if s == nil || !ok || (p-s.base)%MinChunk != 0 {
		return fmt.Errorf("arena: freeing a chunk (%d bytes at %#x) the arena did not allocate", cap(c), p)
	}
	unit := uint32((p - s.base) / MinChunk)
	for order < maxOrder {
		buddy := unit ^ 1<<order
		if s.free[buddy] != uint8(order+1) {
			break
		}
		s.free[buddy] = 0 // merged: its list entry is stale now
		unit &^= 1 << order
		order++
	}
	if order == maxOrder {
		return a.releaseSlab(s)
	}
	s.free[unit] = uint8(order + 1)
	a.lists[order] = append(a.lists[order], blockRef{s, unit})
	return nil
}

// releaseSlab keeps a wholly free slab as a spare, or unmaps it.
func (a *Arena) releaseSlab(s *slab) error {
	if len(a.spare) < maxSpare {
		a.spare = append(a.spare, s)
		return nil
	}
	i := slices.Index(a.slabs, s)
	a.slabs = slices.Delete(a.slabs, i, i+1)
	a.mapped -= slabSize
	mem := s.mem
	s.mem = nil // list entries pointing here are stale
	return a.unmapFn(mem)
}

// Reset frees every chunk at once and unmaps all memory, waiting for a
// slab being fetched ahead.
func (a *Arena) Reset() error {
	var first error
	if a.ahead != nil {
		if r := <-a.ahead; r.err == nil {
			first = a.unmapFn(r.mem)
		}
		a.ahead = nil
	}
	for _, s := range a.slabs {
		if err := a.unmapFn(s.mem); err != nil && first == nil {
			first = err
		}
		s.mem = nil
	}
	for _, mem := range a.large {
		if err := a.unmapFn(mem); err != nil && first == nil {
			first = err
		}
	}
	a.slabs, a.spare, a.mapped = nil, nil, 0
	a.lists = [maxOrder + 1][]blockRef{}
	clear(a.large)
	return first
}

// touch writes a zero to each 4 KiB page of mem, fresh anonymous memory
// that reads as zeros, so that the system backs it now.
func touch(mem []byte) {
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 0
	}
}
