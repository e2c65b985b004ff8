// Package workload generates the canonical workloads of WORKLOADS.md
// (W1…W6) deterministically, so Go benchmarks, `partd bench` and the Python
// baselines measure the same bytes.
package workload

import (
	"fmt"
	"iter"
	"math/rand/v2"
)

// Spec describes one workload.
type Spec struct {
	ID        string // "W1"
	Name      string // "small-appends"
	Keys      int    // distinct keys
	ValueSize int    // bytes per appended value
	Appends   int    // values appended in all (per client for W4)
	Batch     int    // pairs per Append call
	Text      bool   // compressible CSV-like values instead of random bytes
	MemLimit  int64  // Buffer limit, for W5
	Clients   int    // concurrent client processes, for W4
	// GetKeys is how many keys one Get of the read-back asks for: 0 means
	// up to 1,000 keys and about 4 MiB (GetBatch); 1 reads as a reducer
	// reads its partition, one key per Get.
	GetKeys int
}

// The canonical workloads.
var (
	W1 = Spec{ID: "W1", Name: "small-appends", Keys: 1000, ValueSize: 100, Appends: 1_000_000, Batch: 1000}
	W2 = Spec{ID: "W2", Name: "large-values", Keys: 64, ValueSize: 1 << 20, Appends: 256, Batch: 64}
	W3 = Spec{ID: "W3", Name: "many-keys", Keys: 100_000, ValueSize: 100, Appends: 1_000_000, Batch: 10_000}
	W4 = Spec{ID: "W4", Name: "server-shuffle", Keys: 256, ValueSize: 4 << 10, Appends: 16_384, Batch: 256, Clients: 4}
	W5 = Spec{ID: "W5", Name: "buffer-spill", Keys: 1000, ValueSize: 1 << 10, Appends: 1_000_000, Batch: 1000, MemLimit: 64 << 20}
	W6 = Spec{ID: "W6", Name: "text-compress", Keys: 256, ValueSize: 4 << 10, Appends: 65_536, Batch: 256, Text: true}
)

// All lists the workloads in order.
var All = []Spec{W1, W2, W3, W4, W5, W6}

// ByID returns the workload with the given id ("W1" or "w1").
func ByID(id string) (Spec, bool) {
	for _, s := range All {
		if s.ID == id || "w"+s.ID[1:] == id {
			return s, true
		}
	}
	return Spec{}, false
}

// Scaled returns the workload with Appends, Keys and the memory limit
// multiplied by f, for quick runs: appends per key, the workload's shape,
// stay the same. A batch never holds more pairs than there are keys.
func (s Spec) Scaled(f float64) Spec {
	if f == 1 {
		return s
	}
	s.Appends = max(1, int(float64(s.Appends)*f))
	s.Keys = max(1, min(int(float64(s.Keys)*f), s.Appends))
	s.Batch = min(s.Batch, s.Keys, s.Appends)
	if s.MemLimit > 0 {
		s.MemLimit = max(1<<20, int64(float64(s.MemLimit)*f))
	}
	return s
}

// TotalBytes is the payload of one client's appends.
func (s Spec) TotalBytes() int64 { return int64(s.Appends) * int64(s.ValueSize) }

// Key returns the name of key i.
func Key(i int) string { return fmt.Sprintf("key-%06d", i) }

// KeyNames returns every key of the workload.
func (s Spec) KeyNames() []string {
	keys := make([]string, s.Keys)
	for i := range keys {
		keys[i] = Key(i)
	}
	return keys
}

// Batches yields the workload's Append batches, deterministically from seed.
// Append number n goes to key n mod Keys, so every key receives the same
// number of values and each batch holds distinct keys. Values of one batch
// are slices of one buffer; a consumer must not keep them past the next
// iteration.
func (s Spec) Batches(seed uint64) iter.Seq[map[string][]byte] {
	return func(yield func(map[string][]byte) bool) {
		r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
		keys := s.KeyNames()
		buf := make([]byte, s.Batch*s.ValueSize)
		batch := make(map[string][]byte, s.Batch)
		for n := 0; n < s.Appends; {
			size := min(s.Batch, s.Appends-n)
			clear(batch)
			fill(r, buf[:size*s.ValueSize], s.Text)
			for j := range size {
				batch[keys[(n+j)%s.Keys]] = buf[j*s.ValueSize : (j+1)*s.ValueSize : (j+1)*s.ValueSize]
			}
			n += size
			if !yield(batch) {
				return
			}
		}
	}
}

// fill writes random bytes, or CSV-like text rows when text is set.
func fill(r *rand.Rand, b []byte, text bool) {
	if !text {
		for i := 0; i+8 <= len(b); i += 8 {
			v := r.Uint64()
			b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			b[i+4], b[i+5], b[i+6], b[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		}
		for i := len(b) &^ 7; i < len(b); i++ {
			b[i] = byte(r.Uint32())
		}
		return
	}
	names := [...]string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	cities := [...]string{"Berlin", "Lagos", "Lima", "Osaka", "Perth", "Quito", "Tunis", "Oslo"}
	var row []byte
	for off := 0; off < len(b); {
		row = fmt.Appendf(row[:0], "%d,%s,%s,%d.%02d,%t\n", r.IntN(1_000_000), names[r.IntN(len(names))],
			cities[r.IntN(len(cities))], r.IntN(10_000), r.IntN(100), r.IntN(2) == 0)
		off += copy(b[off:], row)
	}
}
