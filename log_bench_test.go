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

// BenchmarkLogGet measures reading W1's shape back (1,000 keys, each
// appended to in 1,000 batches of 100 bytes, so each key's bytes lie in
// 1,000 runs), as a reducer reads: one key per Get, with Get and with
// GetAppend into a reused buffer; and 41 keys per Get, as partd bench's
// default read-back:
//
//	go test -run '^$' -bench LogGet -cpuprofile cpu.out .
//
// PARTD_BENCH_SCALE shrinks it.
func BenchmarkLogGet(b *testing.B) {
	keys := max(int(1000*benchScale()), 10)
	const appends, valueLen = 1000, 100
	l, err := partd.OpenLog(b.TempDir(), &partd.LogOptions{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key-%06d", i)
	}
	value := make([]byte, valueLen)
	for range appends {
		m := make(map[string][]byte, keys)
		for _, k := range names {
			m[k] = value
		}
		if err := l.Append(m); err != nil {
			b.Fatal(err)
		}
	}
	perKey := int64(appends * valueLen)
	for _, per := range []int{1, 41} {
		b.Run(fmt.Sprintf("get/keys=%d", per), func(b *testing.B) {
			b.SetBytes(perKey * int64(keys))
			for b.Loop() {
				for i := 0; i < keys; i += per {
					if _, err := l.Get(names[i:min(i+per, keys)]...); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("get-into/keys=%d", per), func(b *testing.B) {
			b.SetBytes(perKey * int64(keys))
			dst := make([][]byte, per)
			for b.Loop() {
				for i := 0; i < keys; i += per {
					chunk := names[i:min(i+per, keys)]
					for j := range dst {
						dst[j] = dst[j][:0]
					}
					out, err := partd.GetAppend(l, dst[:len(chunk)], chunk...)
					if err != nil {
						b.Fatal(err)
					}
					copy(dst, out)
				}
			}
		})
	}
}

// BenchmarkLogAppend measures W3's appends (batches of 10,000 distinct keys
// of 100,000, 100 bytes each) on a Log:
//
//	go test -run '^$' -bench LogAppend -cpuprofile cpu.out .
func BenchmarkLogAppend(b *testing.B) {
	const keys, batch, valueLen = 100_000, 10_000, 100
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key-%06d", i)
	}
	buf := make([]byte, batch*valueLen)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	batches := make([]map[string][]byte, keys/batch)
	for i := range batches {
		m := make(map[string][]byte, batch)
		for j := range batch {
			m[names[i*batch+j]] = buf[j*valueLen : (j+1)*valueLen]
		}
		batches[i] = m
	}
	l, err := partd.OpenLog(b.TempDir(), &partd.LogOptions{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetBytes(batch * valueLen)
	i := 0
	for b.Loop() {
		if err := l.Append(batches[i%len(batches)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
