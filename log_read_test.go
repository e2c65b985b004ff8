package partd

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd/internal/osfile"
)

// TestReadPlanSort: a Get's runs come out in file order, each once, with
// equal places in the order they were planned, whichever way the plan
// sorts them (sorted already, few runs, radix, many segments).
func TestReadPlanSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		runs, segs int
		firstID    uint32
		maxOff     int64
	}{
		{0, 1, 0, 10},
		{1, 1, 7, 10},
		{100, 3, 0, 1 << 20},
		{41_000, 2, 5, 64 << 20},
		{41_000, 2, 5, 1<<32 - 1},
		{10_000, 40, 1 << 30, 1 << 26},
		{5_000, 3, 0, 50}, // many equal places
		{3_000, 2, 0, 1 << 20},
	} {
		segs := make([]*logSegment, tc.segs)
		for i := range segs {
			segs[i] = &logSegment{id: tc.firstID + uint32(i*i*100)} // the last case spreads ids past 2^12
		}
		p := &readPlan{}
		for range 2 { // twice: the second reuses the pooled slices
			p.reads = p.reads[:0]
			for i := range tc.runs {
				p.reads = append(p.reads, logRead{s: segs[rng.IntN(len(segs))], off: rng.Int64N(tc.maxOff), n: 1, dst: i})
			}
			want := slices.Clone(p.reads)
			slices.SortStableFunc(want, func(a, b logRead) int {
				return cmp.Or(cmp.Compare(a.s.id, b.s.id), cmp.Compare(a.off, b.off))
			})
			got := p.sort()
			if !slices.Equal(got, want) {
				t.Fatalf("%+v: runs out of file order", tc)
			}
			p.reads = got
		}
	}
}

// populateLog opens a Log of 5 MiB segments that never compacts by
// itself, for the tests of filling in mappings, or skips the test where
// the system cannot fill them in.
func populateLog(t *testing.T) *Log {
	t.Helper()
	if !osfile.CanPopulate {
		t.Skip("no MADV_POPULATE_READ on this system")
	}
	l, err := OpenLog(t.TempDir(), &LogOptions{SegmentSize: 5 << 20, CompactGarbage: -1})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLogPopulate: a Get fills in the page tables of the windows of a
// mapping it copies from, once: a sealed segment's windows up to its end
// are marked, the window holding the end of the active segment's file is
// filled in as far as Gets read, and every Get returns what was appended.
func TestLogPopulate(t *testing.T) {
	l := populateLog(t)
	defer l.Close()
	// 8 MiB over two keys in 8 KiB appends (runs copied from the
	// mappings): the first segment sealed at about 5 MiB (three windows,
	// the last partial), the rest active.
	want := map[string][]byte{}
	for i := range 512 {
		for _, k := range []string{"a", "b"} {
			v := bytes.Repeat([]byte{byte(i), k[0]}, 4<<10)
			if err := l.Append(map[string][]byte{k: v}); err != nil {
				t.Fatal(err)
			}
			want[k] = append(want[k], v...)
		}
	}
	for range 2 {
		got, err := l.Get("a", "b")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[0], want["a"]) || !bytes.Equal(got[1], want["b"]) {
			t.Fatal("Get after filling in the mappings differs from what was appended")
		}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	var sealed, active *logSegment
	for _, s := range l.segs {
		if s == l.active {
			active = s
		} else {
			sealed = s
		}
	}
	if sealed == nil || active == nil || sealed.data == nil {
		t.Fatalf("want a mapped sealed segment and an active one; segments %d", len(l.segs))
	}
	if len(sealed.data) != int(sealed.size) {
		t.Fatalf("sealed segment mapped as %d bytes, want its size %d", len(sealed.data), sealed.size)
	}
	if w := (len(sealed.data) + 1<<popWindowShift - 1) >> popWindowShift; sealed.populated[0].Load() != 1<<w-1 {
		t.Fatalf("sealed segment's filled-in windows %b, want all %d", sealed.populated[0].Load(), w)
	}
	if active.data != nil && active.populated != nil {
		end := (int(active.size) - 1) >> popWindowShift // the window holding the file's end
		if active.populated[0].Load() != 1<<end-1 {
			t.Fatalf("active segment's filled-in windows %b, want the %d below its end", active.populated[0].Load(), end)
		}
		if tail := active.popTail.Load(); tail != active.size {
			t.Fatalf("active segment filled in to %d in its last window, want its size %d", tail, active.size)
		}
	}
}

// TestLogPopulateSealed: a segment written with mostly small runs has its
// mapping filled in behind the writer, by the Log's warming goroutine, the
// window holding its end once it is sealed, and one of large runs (a
// Buffer's spills, read with pread) is left alone; the warming races
// appends, Drop, compaction and Close without harm.
func TestLogPopulateSealed(t *testing.T) {
	l := populateLog(t)
	defer l.Close()
	small := bytes.Repeat([]byte("s"), 1000)
	large := bytes.Repeat([]byte("L"), 1<<20)
	for range 6 { // a segment of large runs
		if err := l.Append(map[string][]byte{"large": large}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 << 10 { // then one of small runs, sealed by the next
		if err := l.Append(map[string][]byte{fmt.Sprint("k", i%100): small}); err != nil {
			t.Fatal(err)
		}
	}
	sealed := func() (largeSeg, smallSeg *logSegment) {
		l.mu.RLock()
		defer l.mu.RUnlock()
		for _, s := range sortedSegments(l.segs) {
			switch {
			case s == l.active:
			case s.smallWritten == 0:
				largeSeg = s
			default:
				smallSeg = s
			}
		}
		return largeSeg, smallSeg
	}
	largeSeg, smallSeg := sealed()
	if largeSeg == nil || smallSeg == nil {
		t.Fatal("want a sealed segment of large runs and one of small runs")
	}
	windows := (int(smallSeg.size) + 1<<popWindowShift - 1) >> popWindowShift
	deadline := time.Now().Add(10 * time.Second)
	for smallSeg.populated[0].Load() != 1<<windows-1 {
		if time.Now().After(deadline) {
			t.Fatalf("segment of small runs: windows filled in %b, want all %d", smallSeg.populated[0].Load(), windows)
		}
		time.Sleep(time.Millisecond)
	}
	if got := largeSeg.populated[0].Load(); got != 0 {
		t.Fatalf("segment of large runs: windows filled in %b, want none", got)
	}

	// Seals race Drop, compaction and Close.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20_000 {
			if err := l.Append(map[string][]byte{fmt.Sprint("r", i%50): small}); err != nil {
				if errors.Is(err, ErrClosed) {
					return
				}
				t.Error(err)
				return
			}
			if i%5000 == 4999 {
				if err := l.Drop(); err != nil && !errors.Is(err, ErrClosed) {
					t.Error(err)
					return
				}
			}
		}
	})
	wg.Go(func() {
		for range 5 {
			if err := l.Compact(); err != nil && !errors.Is(err, ErrClosed) {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
