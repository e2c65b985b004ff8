package par

import (
	"sync/atomic"
	"testing"
)

func TestDoCallsEachIndexOnce(t *testing.T) {
	for _, w := range []int{0, 1, 2, 7, 100} {
		const n = 1000
		var calls [n]atomic.Int32
		var badWorker atomic.Bool
		Do(n, w, func(worker, i int) {
			calls[i].Add(1)
			if worker < 0 || (w > 1 && worker >= w) || (w <= 1 && worker != 0) {
				badWorker.Store(true)
			}
		})
		for i := range calls {
			if c := calls[i].Load(); c != 1 {
				t.Fatalf("w=%d: index %d called %d times", w, i, c)
			}
		}
		if badWorker.Load() {
			t.Fatalf("w=%d: worker index out of range", w)
		}
	}
}
