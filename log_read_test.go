package partd

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
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
