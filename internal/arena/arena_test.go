package arena

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestRandomAllocFree allocates and frees chunks of every size in random
// order, writing a pattern into each and checking no two live chunks
// overlap (each keeps its own pattern), then that everything merges back
// and is unmapped.
func TestRandomAllocFree(t *testing.T) {
	a := New()
	rng := rand.New(rand.NewPCG(1, 2))
	type live struct {
		c    []byte
		fill byte
	}
	var chunks []live
	check := func(l live) {
		if !bytes.Equal(l.c, bytes.Repeat([]byte{l.fill}, len(l.c))) {
			t.Fatalf("a chunk of %d bytes was overwritten", cap(l.c))
		}
	}
	for i := range 20000 {
		if len(chunks) > 0 && rng.IntN(3) == 0 {
			j := rng.IntN(len(chunks))
			check(chunks[j])
			if err := a.Free(chunks[j].c); err != nil {
				t.Fatal(err)
			}
			chunks = append(chunks[:j], chunks[j+1:]...)
			continue
		}
		n := MinChunk << rng.IntN(10)
		if rng.IntN(50) == 0 {
			n = MaxChunk + 1 + rng.IntN(300_000) // a large one
		}
		c, err := a.Alloc(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 0 || cap(c) != n {
			t.Fatalf("Alloc(%d): len %d cap %d", n, len(c), cap(c))
		}
		l := live{c[:n], byte(i)}
		for k := range l.c {
			l.c[k] = l.fill
		}
		chunks = append(chunks, l)
	}
	for _, l := range chunks {
		check(l)
	}
	for _, l := range chunks {
		if err := a.Free(l.c); err != nil {
			t.Fatal(err)
		}
	}
	if m := a.Mapped(); m > maxSpare*slabSize {
		t.Errorf("after freeing everything %d bytes stay mapped, want at most maxSpare spare slabs", m)
	}
	if err := a.Reset(); err != nil || a.Mapped() != 0 {
		t.Errorf("Reset: %v, %d mapped", err, a.Mapped())
	}
}

func TestFreeForeignChunk(t *testing.T) {
	a := New()
	if err := a.Free(make([]byte, 256)); err == nil {
		t.Error("freeing a heap chunk: no error")
	}
	if _, err := a.Alloc(300); err == nil {
		t.Error("Alloc(300): no error for a size that is not a power of two")
	}
}

// TestReuseAcrossSizes: memory freed as large blocks serves small ones, so
// an arena that keeps changing sizes does not grow.
func TestReuseAcrossSizes(t *testing.T) {
	a := New()
	for round := range 50 {
		size := MaxChunk >> (round % 10)
		var cs [][]byte
		for range (8 << 20) / size {
			c, err := a.Alloc(size)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			a.Free(c)
		}
	}
	if m := a.Mapped(); m > 9<<20 {
		t.Errorf("%d bytes mapped for 8 MiB in use at a time", m)
	}
}

func BenchmarkAllocFree(b *testing.B) {
	a := New()
	cs := make([][]byte, 0, 1024)
	for b.Loop() {
		for i := range 1024 {
			c, _ := a.Alloc(MinChunk << (i % 10))
			cs = append(cs, c)
		}
		for _, c := range cs {
			a.Free(c)
		}
		cs = cs[:0]
	}
}

// TestSlabsAligned checks that slabs start on a slab boundary where the
// arena maps its own memory, so that the kernel can back them with huge
// pages.
func TestSlabsAligned(t *testing.T) {
	a := New()
	defer a.Reset()
	for range 3 * slabSize / MaxChunk {
		if _, err := a.Alloc(MaxChunk); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.slabs) != 3 {
		t.Fatalf("%d slabs, want 3", len(a.slabs))
	}
	for _, s := range a.slabs {
		if mapsOwnMemory && s.base%slabSize != 0 {
			t.Errorf("slab at %#x is not aligned to %d bytes", s.base, slabSize)
		}
	}
}

// TestFetchAhead grows an arena over many slabs: each new slab after the
// first is one fetched ahead when it is ready, every chunk holds what was
// written to it, and Reset waits for a slab on its way and unmaps it too.
func TestFetchAhead(t *testing.T) {
	if !OffHeap {
		t.Skip("the heap's memory: nothing to fetch ahead")
	}
	a := New()
	var mapped atomic.Int32
	mapSlab := a.mapSlabFn
	a.mapSlabFn = func(n int) ([]byte, error) { // called by the owner or by the fetching goroutine
		mapped.Add(1)
		return mapSlab(n)
	}
	var chunks [][]byte
	for i := range 12 * slabSize / MaxChunk {
		c, err := a.Alloc(MaxChunk)
		if err != nil {
			t.Fatal(err)
		}
		c = c[:MaxChunk]
		c[0], c[len(c)-1] = byte(i), byte(i>>8)
		chunks = append(chunks, c)
		if i%(slabSize/MaxChunk) == 0 {
			for a.ahead != nil && len(a.ahead) == 0 { // let the goroutine finish, as a slower owner would
				runtime.Gosched()
			}
		}
	}
	for i, c := range chunks {
		if c[0] != byte(i) || c[len(c)-1] != byte(i>>8) {
			t.Fatalf("chunk %d lost its bytes", i)
		}
	}
	if a.ahead == nil {
		t.Fatal("a growing arena has no slab on its way")
	}
	if got := a.Mapped(); got != 12*slabSize {
		t.Fatalf("Mapped = %d, want %d (a slab fetched ahead is not the arena's until taken)", got, 12*slabSize)
	}
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := mapped.Load(); n != 13 {
		t.Fatalf("%d slabs mapped for 12 in use, want 13 (one fetched ahead)", n)
	}
	if a.ahead != nil || a.Mapped() != 0 {
		t.Fatalf("after Reset: ahead %v, %d bytes mapped", a.ahead != nil, a.Mapped())
	}
}
