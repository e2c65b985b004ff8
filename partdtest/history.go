package partdtest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// History checks a store under concurrent use by its history: writers append
// records to shared and private keys while readers read the shared ones.
// Afterwards every private key must hold its writer's records in order, and
// every shared key each writer's records exactly once, in that writer's order;
// a reader must never see a torn, reordered or duplicated record.
//
// V is the store's value type: []byte for a partd.Store, a slice of rows for
// a typed layer. Record makes the value of one record and Records splits a
// value back into its (writer, sequence) records.
type History[V any] struct {
	Append  func(map[string]V) error
	Get     func(keys ...string) ([]V, error)
	Record  func(writer, seq int) V
	Records func(V) ([][2]int, error)
	// During, if set, runs beside the writers until they are done (a Flush
	// loop, say); it must return when stop is closed.
	During func(stop <-chan struct{}) error
}

// historyShared are the keys every writer of History.Run appends to.
var historyShared = []string{"shared/0", "shared/1", "shared/2"}

// inBatch tells whether writer w's batch i holds shared key j.
func inBatch(w, i, j int) bool { return (i+j+w)%2 == 0 }

// Run runs writers goroutines, each appending rounds batches.
func (h History[V]) Run(t *testing.T, writers, rounds int) {
	t.Helper()
	errs := make(chan error, writers+3)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	for range 2 {
		bg.Go(func() { h.read(stop, errs) })
	}
	if h.During != nil {
		bg.Go(func() {
			if err := h.During(stop); err != nil {
				errs <- err
			}
		})
	}
	var writeWG sync.WaitGroup
	for w := range writers {
		writeWG.Go(func() {
			if err := h.write(w, rounds); err != nil {
				errs <- err
			}
		})
	}
	writeWG.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	h.checkPrivate(t, writers, rounds)
	h.checkShared(t, writers, rounds)
}

// write appends writer w's rounds batches: a record to its private key and
// to some of the shared ones in each.
func (h History[V]) write(w, rounds int) error {
	own := fmt.Sprintf("private/%d", w)
	for i := range rounds {
		batch := map[string]V{own: h.Record(w, i)}
		for j, k := range historyShared {
			if inBatch(w, i, j) {
				batch[k] = h.Record(w, i)
			}
		}
		if err := h.Append(batch); err != nil {
			return err
		}
	}
	return nil
}

// read reads the shared keys until stop is closed, checking every record
// it sees, and sends the first failure to errs.
func (h History[V]) read(stop <-chan struct{}, errs chan<- error) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		vs, err := h.Get(historyShared...)
		if err != nil {
			errs <- err
			return
		}
		for _, v := range vs {
			if _, err := h.check(v); err != nil {
				errs <- fmt.Errorf("concurrent reader: %w", err)
				return
			}
		}
	}
}

// checkPrivate checks that every private key holds its writer's records,
// in order.
func (h History[V]) checkPrivate(t *testing.T, writers, rounds int) {
	t.Helper()
	for w := range writers {
		own := fmt.Sprintf("private/%d", w)
		vs, err := h.Get(own)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := h.Records(vs[0])
		if err != nil {
			t.Fatalf("%s: %v", own, err)
		}
		if len(recs) != rounds {
			t.Fatalf("%s holds %d records, want %d", own, len(recs), rounds)
		}
		for i, r := range recs {
			if r != [2]int{w, i} {
				t.Fatalf("%s: record %d is %v, want %v", own, i, r, [2]int{w, i})
			}
		}
	}
}

// checkShared checks that every shared key holds each writer's records
// exactly once, in that writer's order.
func (h History[V]) checkShared(t *testing.T, writers, rounds int) {
	t.Helper()
	for j, k := range historyShared {
		vs, err := h.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := h.check(vs[0])
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		for w := range writers {
			want := 0
			for i := range rounds {
				if inBatch(w, i, j) {
					want++
				}
			}
			if counts[w] != want {
				t.Fatalf("%s holds %d records of writer %d, want %d", k, counts[w], w, want)
			}
		}
	}
}

// check splits v into records, checks each writer's are in order, and
// counts them per writer.
func (h History[V]) check(v V) (map[int]int, error) {
	recs, err := h.Records(v)
	if err != nil {
		return nil, err
	}
	counts := make(map[int]int)
	last := make(map[int]int)
	for _, r := range recs {
		w, seq := r[0], r[1]
		if prev, ok := last[w]; ok && seq <= prev {
			return nil, fmt.Errorf("writer %d: record %d after %d (reordered or duplicated)", w, seq, prev)
		}
		last[w] = seq
		counts[w]++
	}
	return counts, nil
}

// Record is a fixed-size record of writer w's n-th append, for byte stores.
func Record(w, n int) []byte { return fmt.Appendf(nil, "<w%02d:%06d>", w, n) }

// RecordLen is the size of a Record.
const RecordLen = len("<w00:000000>")

// Records splits bytes made of Records, failing on a torn one.
func Records(v []byte) ([][2]int, error) {
	if len(v)%RecordLen != 0 {
		return nil, fmt.Errorf("torn record: %d bytes is not a whole number of records", len(v))
	}
	out := make([][2]int, 0, len(v)/RecordLen)
	for off := 0; off < len(v); off += RecordLen {
		var w, n int
		if _, err := fmt.Sscanf(string(v[off:off+RecordLen]), "<w%02d:%06d>", &w, &n); err != nil {
			return nil, fmt.Errorf("bad record %q at byte %d", v[off:off+RecordLen], off)
		}
		out = append(out, [2]int{w, n})
	}
	return out, nil
}

// Bytes returns the History of a byte store.
func Bytes(s interface {
	Append(map[string][]byte) error
	Get(keys ...string) ([][]byte, error)
}) History[[]byte] {
	return History[[]byte]{Append: s.Append, Get: s.Get, Record: Record, Records: Records}
}

// Allocated returns the bytes the Go heap allocates while fn runs, after a
// collection, for tests that bound what hostile input may allocate.
func Allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
