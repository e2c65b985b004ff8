package compress_test

// Benchmarks of WORKLOADS.md W6 (4 KiB text values over a File store), of
// Python partd 1.3 on the same workload, and of the two ways to stack a
// compression layer and a Buffer for small appends:
//
//	PARTD_BENCH_PYTHON=1 go test -run '^$' -bench . -benchtime 3x ./compress/
//
// BenchmarkW6 times Append and Get apart (b.SetBytes, allocations, MB per
// CPU second); BenchmarkW6Pass runs the project's workload runner and, with
// PARTD_BENCH_PYTHON=1, Python partd beside it. PARTD_BENCH_SCALE scales the
// workload (1, the default, is the full 256 MiB; 0.125 is 32 MiB).

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/workload"
)

// w6Spec is W6 scaled by PARTD_BENCH_SCALE.
func w6Spec() workload.Spec {
	scale := 1.0
	if f, err := strconv.ParseFloat(os.Getenv("PARTD_BENCH_SCALE"), 64); err == nil && f > 0 && f <= 1 {
		scale = f
	}
	return workload.W6.Scaled(scale)
}

// w6 is the scaled W6 with its batches, generated once.
var w6 = sync.OnceValues(func() (workload.Spec, []map[string][]byte) {
	spec := w6Spec()
	return spec, materialize(spec)
})

// materialize returns the workload's batches as values the caller owns.
func materialize(spec workload.Spec) []map[string][]byte {
	var batches []map[string][]byte
	for batch := range spec.Batches(1) {
		buf := make([]byte, 0, len(batch)*spec.ValueSize)
		own := make(map[string][]byte, len(batch))
		for k, v := range batch {
			buf = append(buf, v...)
			own[k] = buf[len(buf)-len(v):]
		}
		batches = append(batches, own)
	}
	return batches
}

// benchLayers are the stacks benchmarked over File, with the name of the
// matching Python stack in internal/workload/bench.py.
var benchLayers = []struct {
	name, python string
	wrap         func(partd.Store, ...compress.Option) partd.Store
}{
	{"zstd", "zstd", compress.Zstd},
	{"snappy", "snappy", compress.Snappy},
	{"zlib", "zlib", compress.ZLib},
	{"none", "file", func(s partd.Store, _ ...compress.Option) partd.Store { return s }},
	{"zstd3", "", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.Zstd(s, compress.WithLevel(3)) }},
}

// storedBytes sums what keys hold in s.
func storedBytes(b *testing.B, s partd.Store, keys []string) int64 {
	vs, err := s.Get(keys...)
	check(b, err)
	var n int64
	for _, v := range vs {
		n += int64(len(v))
	}
	return n
}

// BenchmarkW6 compresses and decompresses the workload of 4 KiB text
// values with each layer. Measured: zstd level 1 (DefaultZstdLevel) took
// 20-45% less CPU than level 3 for a ratio 4% lower (2.64 against 2.74);
// s2.EncodeSnappy was twice as fast as EncodeSnappyBetter for a ratio 5%
// lower.
func BenchmarkW6(b *testing.B) {
	spec, batches := w6()
	keys := spec.KeyNames()
	for _, l := range benchLayers {
		b.Run(l.name+"/append", func(b *testing.B) {
			b.SetBytes(spec.TotalBytes())
			b.ReportAllocs()
			var ratio, cpu float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f, err := partd.NewFile(filepath.Join(b.TempDir(), strconv.Itoa(i)))
				check(b, err)
				s := l.wrap(f)
				b.StartTimer()
				c0 := cpuSeconds()
				for _, batch := range batches {
					check(b, s.Append(batch))
				}
				cpu += cpuSeconds() - c0
				b.StopTimer()
				ratio = float64(spec.TotalBytes()) / float64(storedBytes(b, f, keys))
				check(b, s.Close())
				b.StartTimer()
			}
			b.ReportMetric(ratio, "ratio")
			b.ReportMetric(float64(spec.TotalBytes())*float64(b.N)/1e6/cpu, "MB/cpu-s")
		})
		b.Run(l.name+"/get", func(b *testing.B) {
			f, err := partd.NewFile(b.TempDir())
			check(b, err)
			s := l.wrap(f)
			defer s.Close()
			for _, batch := range batches {
				check(b, s.Append(batch))
			}
			b.SetBytes(spec.TotalBytes())
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				vs, err := s.Get(keys...)
				check(b, err)
				if n := len(vs[0]); n != spec.Appends/spec.Keys*spec.ValueSize {
					b.Fatalf("got %d bytes for a key", n)
				}
			}
			b.ReportMetric(float64(spec.TotalBytes())*float64(b.N)/1e6/(cpuSeconds()-c0), "MB/cpu-s")
		})
	}
}

// BenchmarkW6Pass runs the whole of W6 through each layer over a File store
// with the project's workload runner: append every batch, then get every key
// in Gets of about 4 MiB, timing only the store's calls. With
// PARTD_BENCH_PYTHON=1 each iteration also runs Python partd 1.3 on the same
// workload and stack (partd.ZLib, partd.Snappy, or zstandard at level 3
// through partd.Encode, over partd.File; internal/workload/bench.py), right
// after Go's pass so that both see the same machine, and reports Python's
// MB/s and Go's speed-up (medians over iterations).
func BenchmarkW6Pass(b *testing.B) {
	spec := w6Spec()
	python := os.Getenv("PARTD_BENCH_PYTHON") != ""
	for _, l := range benchLayers[:4] {
		b.Run(l.name, func(b *testing.B) {
			b.SetBytes(spec.TotalBytes())
			var goRes, pyRes []workload.Result
			for i := 0; i < b.N; i++ {
				f, err := partd.NewFile(filepath.Join(b.TempDir(), strconv.Itoa(i)))
				check(b, err)
				s := l.wrap(f)
				res, err := workload.Run(spec, s, uint64(i))
				check(b, err)
				check(b, s.Close())
				goRes = append(goRes, res)
				if python && l.python != "" {
					b.StopTimer()
					py, err := workload.RunPython(spec, l.python, "", uint64(i))
					check(b, err)
					pyRes = append(pyRes, py)
					b.StartTimer()
				}
			}
			appendMBps := func(r workload.Result) float64 { return r.AppendMBps() }
			getMBps := func(r workload.Result) float64 { return r.GetMBps() }
			b.ReportMetric(median(goRes, appendMBps), "append-MB/s")
			b.ReportMetric(median(goRes, getMBps), "get-MB/s")
			if len(pyRes) > 0 {
				b.ReportMetric(median(pyRes, appendMBps), "py-append-MB/s")
				b.ReportMetric(median(pyRes, getMBps), "py-get-MB/s")
				b.ReportMetric(median(goRes, appendMBps)/median(pyRes, appendMBps), "x-python-append")
				b.ReportMetric(median(goRes, getMBps)/median(pyRes, getMBps), "x-python-get")
			}
		})
	}
}

func median[T any](xs []T, field func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = field(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkSmallAppends compares the two ways to stack zstd and a Buffer
// under small text appends (W1's shape, 100-byte text values, 20 MB through a
// 4 MiB buffer): compressing each small value before it is buffered,
// Zstd(Buffer(Dict, File)), or compressing what the buffer spills,
// Buffer(Dict, Zstd(File)). Each iteration appends everything, flushes and
// then gets every key once.
func BenchmarkSmallAppends(b *testing.B) {
	spec := workload.W1.Scaled(0.2)
	spec.Text = true
	batches := materialize(spec)
	keys := spec.KeyNames()
	const limit = 4 << 20
	for _, st := range []struct {
		name  string
		stack func(f partd.Store) (s partd.Store, flush func() error)
	}{
		{"zstd-over-buffer", func(f partd.Store) (partd.Store, func() error) {
			buf := partd.NewBuffer(partd.NewDict(), f, limit)
			return compress.Zstd(buf), buf.Flush
		}},
		{"buffer-over-zstd", func(f partd.Store) (partd.Store, func() error) {
			buf := partd.NewBuffer(partd.NewDict(), compress.Zstd(f), limit)
			return buf, buf.Flush
		}},
		{"buffer-no-compression", func(f partd.Store) (partd.Store, func() error) {
			buf := partd.NewBuffer(partd.NewDict(), f, limit)
			return buf, buf.Flush
		}},
	} {
		b.Run(st.name, func(b *testing.B) {
			b.SetBytes(spec.TotalBytes())
			b.ReportAllocs()
			var ratio, appendSec, getSec float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f, err := partd.NewFile(filepath.Join(b.TempDir(), strconv.Itoa(i)))
				check(b, err)
				s, flush := st.stack(f)
				b.StartTimer()
				start := nowSeconds()
				for _, batch := range batches {
					check(b, s.Append(batch))
				}
				check(b, flush())
				mid := nowSeconds()
				vs, err := s.Get(keys...)
				check(b, err)
				appendSec += mid - start
				getSec += nowSeconds() - mid
				b.StopTimer()
				var n int
				for _, v := range vs {
					n += len(v)
				}
				if int64(n) != spec.TotalBytes() {
					b.Fatalf("got %d bytes back, want %d", n, spec.TotalBytes())
				}
				ratio = float64(spec.TotalBytes()) / float64(storedBytes(b, f, keys))
				check(b, s.Close())
				b.StartTimer()
			}
			mb := float64(spec.TotalBytes()) * float64(b.N) / 1e6
			b.ReportMetric(mb/appendSec, "append-MB/s")
			b.ReportMetric(mb/getSec, "get-MB/s")
			b.ReportMetric(ratio, "ratio")
		})
	}
}

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }
