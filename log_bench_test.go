package partd_test

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/gopartd/partd"
)

// BenchmarkLogReopen measures opening a Log of about 1 GB in 100,000 keys
// (10 appends of 1 KiB to each key, so 1,000,000 values), and the memory its
// index takes:
//
//	go test -run '^$' -bench LogReopen -benchtime 3x .
//
// PARTD_BENCH_SCALE shrinks it. Reported: MB/s of segment bytes scanned,
// index-B/key and index-B/value (heap held by the open Log), and the same
// after Compact (each key's bytes in one run).
//
// Measured on the benchmark machine: 355 bytes of heap per key, about 20
// of them per appended value whose place is not next to the key's previous
// one (180 bytes per key after a compaction, when compaction gathered each
// key whole, before it went segment by segment); opening took about 0.7 s,
// 1.4 GB/s from the page cache.
func BenchmarkLogReopen(b *testing.B) {
	keys := int(100_000 * benchScale())
	const appends, valueLen, batch = 10, 1024, 1000
	dir := b.TempDir()
	l, err := partd.OpenLog(dir, &partd.LogOptions{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, valueLen)
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("part-%06d/col", i)
	}
	for range appends {
		for lo := 0; lo < keys; lo += batch {
			m := make(map[string][]byte, batch)
			for _, k := range names[lo:min(lo+batch, keys)] {
				m[k] = value
			}
			if err := l.Append(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	bytes := l.Stats().Bytes
	b.SetBytes(bytes)

	open := func() *partd.Log {
		l, err := partd.OpenLog(dir, &partd.LogOptions{Logger: quietLog, CompactGarbage: -1})
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	for b.Loop() {
		open().Close()
	}
	heapOf := func(fn func() *partd.Log) (*partd.Log, float64) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := fn()
		runtime.GC()
		runtime.ReadMemStats(&after)
		return l, float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	l, heap := heapOf(open)
	b.ReportMetric(heap/float64(keys), "index-B/key")
	b.ReportMetric(heap/float64(keys*appends), "index-B/value")
	if err := l.Compact(); err != nil {
		b.Fatal(err)
	}
	l.Close()
	l, heap = heapOf(open)
	b.ReportMetric(heap/float64(keys), "compacted-index-B/key")
	l.Close()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "log of %d bytes, %d keys\n", bytes, keys)
	}
}
