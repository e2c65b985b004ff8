package bench

import (
	"fmt"
	"maps"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/workload"
)

// W4Client is one W4 (server-shuffle) client: it generates its batches
// first (deterministically from seed), then appends them all to s, a client
// of the shared server. It returns when the appends started and ended, so
// that the caller can time the phase across client processes.
func W4Client(s partd.Store, spec workload.Spec, seed uint64) (start, end time.Time, bytes int64, err error) {
	var batches []map[string][]byte
	for b := range spec.Batches(seed) {
		c := make(map[string][]byte, len(b))
		for k, v := range maps.All(b) {
			c[k] = append([]byte(nil), v...)
			bytes += int64(len(v))
		}
		batches = append(batches, c)
	}
	start = time.Now()
	for _, b := range batches {
		if err := s.Append(b); err != nil {
			return start, time.Now(), bytes, fmt.Errorf("W4 client: %w", err)
		}
	}
	return start, time.Now(), bytes, nil
}

// W4Reader gets every key of spec from s, a few at a time, and returns the
// bytes read and the time it took.
func W4Reader(s partd.Store, spec workload.Spec) (int64, time.Duration, error) {
	keys := spec.KeyNames()
	step := max(1, spec.GetBatch())
	var n int64
	start := time.Now()
	for i := 0; i < len(keys); i += step {
		vals, err := s.Get(keys[i:min(i+step, len(keys))]...)
		if err != nil {
			return n, time.Since(start), fmt.Errorf("W4 reader: %w", err)
		}
		for _, v := range vals {
			n += int64(len(v))
		}
	}
	return n, time.Since(start), nil
}
