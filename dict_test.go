package partd_test

import (
	"fmt"
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
