package compress_test

// Benchmarks of WORKLOADS.md W6 (text values over a File store), of Python
// partd 1.3 on the same bytes, and of the two ways to stack a compression
// layer and a Buffer for small appends.
//
//	go test -run '^$' -bench 'W6' -benchtime 3x ./compress/
//
// runs BenchmarkW6 (Go alone, Go's benchmark statistics) and
// BenchmarkW6VersusPython (Go and Python partd 1.3 alternating on the same W6
// bytes, medians and speed-ups). The workload is scaled by PARTD_W6_SCALE
// (default 0.125: 8,192 appends of 4 KiB, 32 MiB; 1 is the full 256 MiB).

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	{"zstd3", func(s partd.Store) partd.Store { return must1(compress.ZstdLevel(s, 3)) }},
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

// w6Run is one pass of W6 over a File store: append everything, then get
// every key once.
type w6Run struct {
	Append, Get       float64 // MB/s of payload, wall clock
	AppendCPU, GetCPU float64 // MB of payload per CPU second (user + system)
	Ratio             float64 // payload bytes / stored bytes
}

// goW6 runs W6 through wrap over a new File store in dir.
func goW6(b *testing.B, wrap func(partd.Store) partd.Store, dir string) w6Run {
	spec, batches := w6()
	keys := spec.KeyNames()
	f, err := partd.NewFile(dir)
	check(b, err)
	s := wrap(f)
	defer s.Close()
	mb := float64(spec.TotalBytes()) / 1e6
	t0, c0 := time.Now(), cpuSeconds()
	for _, batch := range batches {
		check(b, s.Append(batch))
	}
	t1, c1 := time.Now(), cpuSeconds()
	vs, err := s.Get(keys...)
	check(b, err)
	t2, c2 := time.Now(), cpuSeconds()
	if n := len(vs[0]); n != spec.Appends/spec.Keys*spec.ValueSize {
		b.Fatalf("got %d bytes for a key", n)
	}
	return w6Run{
		Append: mb / t1.Sub(t0).Seconds(), Get: mb / t2.Sub(t1).Seconds(),
		AppendCPU: mb / (c1 - c0), GetCPU: mb / (c2 - c1),
		Ratio: float64(spec.TotalBytes()) / float64(storedBytes(b, f, keys)),
	}
}

// pyW6 runs testdata/bench_w6.py: the same pass in Python partd 1.3 on the
// W6 bytes in data.
func pyW6(b *testing.B, algo, data, dir string) w6Run {
	spec, _ := w6()
	cmd := exec.Command(python, filepath.Join("testdata", "bench_w6.py"), data, algo,
		strconv.Itoa(spec.Keys), strconv.Itoa(spec.ValueSize), strconv.Itoa(spec.Batch), dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%v: %v", cmd, err)
	}
	var r w6Run
	check(b, json.Unmarshal(bytes.TrimSpace(out), &r))
	return r
}

// writeW6 writes the W6 values in append order, for bench_w6.py.
func writeW6(b *testing.B, path string) {
	spec, batches := w6()
	out, err := os.Create(path)
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
}

func median(runs []w6Run, field func(w6Run) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = field(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// BenchmarkW6VersusPython alternates, once per iteration, one W6 pass in Go
// (Zstd, Snappy or ZLib over File) and the same pass in Python partd 1.3
// (zstandard through partd.Encode, partd.Snappy, partd.ZLib over partd.File,
// in a child /usr/bin/python3), so both see the same machine. It reports the
// median over iterations of each side's append and get MB/s (wall clock and
// per CPU second) and of Go's speed-up over Python. Run it with -benchtime
// 3x or more: each iteration is a whole workload.
func BenchmarkW6VersusPython(b *testing.B) {
	data := filepath.Join(b.TempDir(), "w6.bin")
	writeW6(b, data)
	for _, algo := range []struct {
		name string
		wrap func(partd.Store) partd.Store
	}{{"zstd", compress.Zstd}, {"snappy", compress.Snappy}, {"zlib", compress.ZLib}} {
		b.Run(algo.name, func(b *testing.B) {
			var goRuns, pyRuns []w6Run
			for i := 0; i < b.N; i++ {
				goRuns = append(goRuns, goW6(b, algo.wrap, filepath.Join(b.TempDir(), "go")))
				pyRuns = append(pyRuns, pyW6(b, algo.name, data, b.TempDir()))
			}
			b.StopTimer()
			for _, m := range []struct {
				unit  string
				field func(w6Run) float64
			}{
				{"append-MB/s", func(r w6Run) float64 { return r.Append }},
				{"get-MB/s", func(r w6Run) float64 { return r.Get }},
				{"append-MB/cpu-s", func(r w6Run) float64 { return r.AppendCPU }},
				{"get-MB/cpu-s", func(r w6Run) float64 { return r.GetCPU }},
				{"ratio", func(r w6Run) float64 { return r.Ratio }},
			} {
				g, p := median(goRuns, m.field), median(pyRuns, m.field)
				b.ReportMetric(g, "go-"+m.unit)
				b.ReportMetric(p, "py-"+m.unit)
				if m.unit != "ratio" {
					b.ReportMetric(g/p, "x-"+m.unit)
				}
			}
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
