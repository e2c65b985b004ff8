// Package shuffle is the tested logic behind `partd shuffle`: deterministic
// row generation, hash partitioning, an order-independent checksum, the map
// and reduce steps over a partd store, and the verification that every row a
// mapper wrote came back exactly once from the partition it was written to.
//
// The command line (cmd/partd) only starts processes and prints; everything
// that decides whether a shuffle was correct lives here.
//
// A shuffle runs in two phases:
//
//  1. Map: worker w generates Rows rows from (seed, w), sends each row to
//     partition Partition(row.Key, P) and appends the partitions' rows to
//     the store, in batches, under PartitionKey(p). It reports one [Stats]
//     per partition: how many rows it sent there and their checksum.
//  2. Reduce: each reducer reads its share of the partitions, checks that
//     every row belongs to the partition it was read from, and reports the
//     Stats it read. [Verify] compares the sums of the mappers' Stats with
//     the reducers'.
//
// Checksums are order-independent (a wrapping sum and a xor of per-row
// hashes), so the order in which concurrent mappers' appends land does not
// matter, while a lost, duplicated, misplaced or altered row does.
package shuffle

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// Row is one generated record. As msgpack it encodes as a four-element
// array (id, key, value, name), so Python's partd.Python reads it as a list.
type Row struct {
	//lint:ignore U1000 msgpack reads the tag through reflection.
	_msgpack struct{} `msgpack:",as_array"`

	ID    uint64 // worker<<40 | sequence number: unique across workers
	Key   uint64 // the shuffle key: decides the partition
	Value float64
	Name  string
}

// Hash returns the row's 64-bit hash, from every field.
func (r Row) Hash() uint64 {
	h := mix(r.ID ^ 0x243f6a8885a308d3)
	h = mix(h ^ r.Key)
	h = mix(h ^ math.Float64bits(r.Value))
	// FNV-1a over the name, then mixed in.
	n := uint64(14695981039346656037)
	for i := 0; i < len(r.Name); i++ {
		n ^= uint64(r.Name[i])
		n *= 1099511628211
	}
	return mix(h ^ n ^ uint64(len(r.Name)))
}

// mix is splitmix64's finalizer: a bijection that spreads every input bit
// over every output bit.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Partition returns the partition, in [0, partitions), of a row with the
// given shuffle key.
func Partition(key uint64, partitions int) int {
	return int(mix(key^0x452821e638d01377) % uint64(partitions))
}

// PartitionKey is the store key under which partition p is kept.
func PartitionKey(p int) string { return fmt.Sprintf("%s/part-%05d", Prefix, p) }

// Prefix is the first part of every key a shuffle writes. Before the map
// phase and after a verified run, keys under it are deleted.
const Prefix = "shuffle"

// ParsePartitionKey returns the partition a key of PartitionKey names.
func ParsePartitionKey(key string) (int, bool) {
	var p int
	if n, err := fmt.Sscanf(key, Prefix+"/part-%05d", &p); n != 1 || err != nil || PartitionKey(p) != key {
		return 0, false
	}
	return p, true
}

var names = [...]string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
	"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil"}

// Generator yields worker's rows deterministically from (seed, worker): the
// same arguments give the same rows in every process and on every run.
type Generator struct {
	r      *rand.Rand
	worker uint64
	next   uint64
	name   []byte
}

// NewGenerator returns the generator of one worker's rows.
func NewGenerator(seed uint64, worker int) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, uint64(worker)+0x632be59bd9b4e019)), worker: uint64(worker)}
}

// Next returns the next row.
func (g *Generator) Next() Row {
	r := g.r
	id := g.worker<<40 | g.next
	g.next++
	// Keys come from a range of 2^24 values, so many rows share a key, as in
	// a group-by; names vary in length (5 to 14 bytes).
	key := r.Uint64() & (1<<24 - 1)
	g.name = append(g.name[:0], names[r.IntN(len(names))]...)
	g.name = append(g.name, '-')
	g.name = strconv.AppendUint(g.name, r.Uint64N(1_000_000), 10)
	return Row{ID: id, Key: key, Value: float64(r.Int64N(1_000_000_000)) / 100, Name: string(g.name)}
}

// Stats is the count and order-independent checksum of a set of rows.
// The zero value is the Stats of no rows.
type Stats struct {
	Rows uint64 `json:"rows"`
	Sum  uint64 `json:"sum"` // wrapping sum of row hashes: catches duplicates
	Xor  uint64 `json:"xor"` // xor of row hashes
}

// Add counts one row.
func (s *Stats) Add(r Row) {
	h := r.Hash()
	s.Rows++
	s.Sum += h
	s.Xor ^= h
}

// Merge adds the rows counted in o.
func (s *Stats) Merge(o Stats) {
	s.Rows += o.Rows
	s.Sum += o.Sum
	s.Xor ^= o.Xor
}

// String formats the stats for messages.
func (s Stats) String() string {
	return fmt.Sprintf("%d rows, sum %016x, xor %016x", s.Rows, s.Sum, s.Xor)
}

// Checksum folds the stats into one number for summaries.
func (s Stats) Checksum() uint64 { return mix(s.Sum ^ mix(s.Xor) ^ s.Rows) }
