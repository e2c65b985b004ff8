package compress_test

// Benchmarks of WORKLOADS.md W6 (text values over a File store), of Python
// partd 1.3 on the same bytes, and of the two ways to stack a compression
// layer and a Buffer for small appends.
//
//	go test -run '^$' -bench 'W6' -benchtime 3x ./compress/
//
// runs BenchmarkW6 (Go) and BenchmarkW6Python (Python partd.ZLib,
// partd.Snappy and zstandard through partd.Encode, each over partd.File, in
// a child /usr/bin/python3 reading the same W6 bytes). The workload is scaled
// by PARTD_W6_SCALE (default 0.125: 8,192 appends of 4 KiB, 32 MiB; 1 is the
// full 256 MiB).

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/workload"
)

// w6 is the benchmark's scaled W6 with its batches, generated once.
var w6 = sync.OnceValues(func() (workload.Spec, []map[string][]byte) {
	scale := 0.125
	if s := os.Getenv("PARTD_W6_SCALE"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f <= 1 {
			scale = f
		}
	}
	spec := workload.W6.Scaled(scale)
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

var benchLayers = []struct {
	name string
	wrap func(partd.Store) partd.Store
}{
	{"zstd", compress.Zstd},
	{"zstd1", func(s partd.Store) partd.Store { return must1(compress.ZstdLevel(s, 1)) }},
	{"snappy", compress.Snappy},
	{"zlib", compress.ZLib},
	{"none", func(s partd.Store) partd.Store { return s }},
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

// BenchmarkW6Python runs compress/testdata/bench_w6.py once per iteration on
// the same W6 bytes and reports the MB/s Python measured (append and get,
// without interpreter start-up), the same per CPU second, and the
// compression ratio.
func BenchmarkW6Python(b *testing.B) {
	spec, batches := w6()
	data := filepath.Join(b.TempDir(), "w6.bin")
	out, err := os.Create(data)
	check(b, err)
	keys := spec.KeyNames()
	for n, batch := range batches {
		// Value j of batch n is append n*Batch+j, for key (n*Batch+j) mod Keys.
		for j := range len(batch) {
			_, err := out.Write(batch[keys[(n*spec.Batch+j)%spec.Keys]])
			check(b, err)
		}
	}
	check(b, out.Close())
	for _, algo := range []string{"zstd", "snappy", "zlib"} {
		b.Run(algo, func(b *testing.B) {
			var res struct {
				Append, Get, Ratio, AppendCPU, GetCPU float64
			}
			var sum struct{ append, get, appendCPU, getCPU float64 }
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(python, filepath.Join("testdata", "bench_w6.py"), data, algo,
					strconv.Itoa(spec.Keys), strconv.Itoa(spec.ValueSize), strconv.Itoa(spec.Batch), b.TempDir())
				cmd.Stderr = os.Stderr
				outb, err := cmd.Output()
				if err != nil {
					b.Fatalf("%v: %v", cmd, err)
				}
				check(b, json.Unmarshal(bytes.TrimSpace(outb), &res))
				sum.append += res.Append
				sum.get += res.Get
				sum.appendCPU += res.AppendCPU
				sum.getCPU += res.GetCPU
			}
			b.ReportMetric(sum.append/float64(b.N), "append-MB/s")
			b.ReportMetric(sum.get/float64(b.N), "get-MB/s")
			b.ReportMetric(sum.appendCPU/float64(b.N), "append-MB/cpu-s")
			b.ReportMetric(sum.getCPU/float64(b.N), "get-MB/cpu-s")
			b.ReportMetric(res.Ratio, "ratio")
		})
	}
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

// cpuSeconds returns the CPU time (user and system) the process has used.
// Set beside wall-clock MB/s it shows efficiency that does not depend on
// what else the machine runs.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
