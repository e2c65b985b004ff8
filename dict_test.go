package partd_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/partdtest"
)

func TestDictConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store { return partd.NewDict() })
}

// Appending to keys a Dict already holds allocates nothing once its chunks
// are warm, and deleted keys' chunks are reused.
func TestDictAppendSteadyStateAllocs(t *testing.T) {
	d := partd.NewDict()
	batch := map[string][]byte{}
	for i := range 100 {
		batch[fmt.Sprintf("key-%03d", i)] = make([]byte, 100)
	}
	if err := d.Append(batch); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := d.Append(batch); err != nil {
			t.Fatal(err)
		}
	})
	// A new chunk is needed now and then as keys grow; far less than one
	// allocation per value.
	if allocs > 25 {
		t.Fatalf("Append of 100 values to held keys: %.1f allocations, want ≤ 25", allocs)
	}
}

func BenchmarkDictAppend(b *testing.B) {
	d := partd.NewDict()
	batch := map[string][]byte{}
	for i := range 1000 {
		batch[fmt.Sprintf("key-%06d", i)] = make([]byte, 100)
	}
	b.SetBytes(100 * 1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%1000 == 999 {
			d.Drop()
		}
		d.Append(batch)
	}
}

func TestOffHeapDictConformance(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store { return partd.NewOffHeapDict() })
}

// TestOffHeapDictMatchesDict runs one random history of appends, sets,
// deletes and drops of every value size against a heap Dict and an
// off-heap one, comparing every key after each step.
func TestOffHeapDictMatchesDict(t *testing.T) {
	heap, off := partd.NewDict(), partd.NewOffHeapDict()
	defer heap.Close()
	defer off.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	keys := []string{"a", "b", "c/d", "c/e", "big"}
	for step := range 2000 {
		k := keys[rng.IntN(len(keys))]
		v := bytes.Repeat([]byte{byte(step)}, rng.IntN(2)*rng.IntN(100_000)+rng.IntN(300))
		r := rng.IntN(20)
		for _, s := range []partd.Store{heap, off} {
			var err error
			switch {
			case r == 0:
				err = s.Delete(k)
			case r == 1:
				err = s.Set(k, v)
			case r == 2 && step%200 == 0:
				err = s.Drop()
			default:
				err = s.Append(map[string][]byte{k: v})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		check := []string{k}
		if step%50 == 0 {
			check = keys
		}
		want, err := heap.Get(check...)
		must(t, err)
		got, err := off.Get(check...)
		must(t, err)
		for i := range check {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("step %d: key %s: off-heap %d bytes, heap %d", step, check[i], len(got[i]), len(want[i]))
			}
		}
	}
}
