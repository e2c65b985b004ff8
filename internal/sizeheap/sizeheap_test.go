package sizeheap

import (
	"math/rand/v2"
	"testing"
)

func TestHeapMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	h := New()
	model := map[string]int64{}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i := range 5000 {
		k := keys[r.IntN(len(keys))]
		switch r.IntN(4) {
		case 0, 1:
			d := int64(r.IntN(100) + 1)
			h.Add(k, d)
			model[k] += d
		case 2:
			if got, want := h.Remove(k), model[k]; got != want {
				t.Fatalf("step %d: Remove(%s) = %d, want %d", i, k, got, want)
			}
			delete(model, k)
		case 3:
			key, size, ok := h.Pop()
			if ok != (len(model) > 0) {
				t.Fatalf("step %d: Pop ok = %v with %d keys", i, ok, len(model))
			}
			if !ok {
				continue
			}
			for mk, ms := range model {
				if ms > size {
					t.Fatalf("step %d: Pop gave %s=%d but %s=%d is larger", i, key, size, mk, ms)
				}
			}
			if model[key] != size {
				t.Fatalf("step %d: Pop size %d, model %d", i, size, model[key])
			}
			delete(model, key)
		}
		if h.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", i, h.Len(), len(model))
		}
		for mk, ms := range model {
			if h.Size(mk) != ms {
				t.Fatalf("step %d: Size(%s) = %d, want %d", i, mk, h.Size(mk), ms)
			}
		}
	}
}
