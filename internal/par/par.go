// Package par runs the iterations of a loop on several goroutines.
package par

import (
	"sync"
	"sync/atomic"
)

// Do calls fn(worker, i) for every i in [0, n) on w goroutines, each taking
// the next index as it finishes one, and returns when all calls are done.
// With w ≤ 1 it runs on the caller's goroutine. worker is in [0, w), for
// callers that keep per-goroutine state. No goroutine outlives the call.
func Do(n, w int, fn func(worker, i int)) {
	if w <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for worker := range min(w, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(worker, i)
			}
		})
	}
	wg.Wait()
}
