package partd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/partdtest"
)

// The benchmarks run the canonical workloads of WORKLOADS.md.
//
//	go test -run '^$' -bench 'W[1235]' -benchtime 3x .
//
// Each reports append-MB/s, get-MB/s (Get) and get-into-MB/s (a second
// read-back with partd.GetAppend into reused buffers; see workload.Run).
// PARTD_BENCH_SCALE=0.1 shrinks every workload; PARTD_BENCH_PYTHON=1 also
// runs Python partd 1.3 on the same workload in the same run and reports the
// ratios (x-python-append, x-python-get, and x-python-get-into against
// Python's plain get). Python partd has no Log: log is compared with its
// File and buffer-log with its Buffer(Dict, File).

func benchScale() float64 {
	if f, err := strconv.ParseFloat(os.Getenv("PARTD_BENCH_SCALE"), 64); err == nil && f > 0 {
		return f
	}
	return 1
}

// openStack opens a stack of the root package's benchmarks: dict, file,
// log, or buffer and buffer-log (a Dict over a File or a Log, at the
// workload's memory limit). (partd bench has every stack, through package
// storeuri; the root package's tests stay free of cgo so that they vet on
// every system.)
func openStack(stack string, spec workload.Spec, dir string) (partd.Store, error) {
	var slow partd.Store
	switch stack {
	case "dict":
		return partd.NewDict(), nil
	case "file", "buffer":
		f, err := partd.NewFile(dir)
		if err != nil {
			return nil, err
		}
		slow = f
	case "log", "buffer-log":
		l, err := partd.NewLog(dir)
		if err != nil {
			return nil, err
		}
		slow = l
	default:
		return nil, fmt.Errorf("unknown stack %q", stack)
	}
	if stack == "buffer" || stack == "buffer-log" {
		return partd.NewBuffer(partd.NewOffHeapDict(), slow, spec.MemLimit), nil
	}
	return slow, nil
}

func benchWorkload(b *testing.B, spec workload.Spec, stack string) {
	spec = spec.Scaled(benchScale())
	b.SetBytes(spec.TotalBytes())
	b.ReportAllocs()
	var res workload.Result
	for i := 0; b.Loop(); i++ {
		s, err := openStack(stack, spec, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if res, err = workload.Run(spec, s, uint64(i)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	reportResult(b, res, stack)
}

func reportResult(b *testing.B, res workload.Result, stack string) {
	b.ReportMetric(res.AppendMBps(), "append-MB/s")
	b.ReportMetric(res.GetMBps(), "get-MB/s")
	b.ReportMetric(res.GetIntoMBps(), "get-into-MB/s")
	if os.Getenv("PARTD_BENCH_PYTHON") == "" {
		return
	}
	py, err := workload.RunPython(res.Spec, workload.PythonStack(stack), "", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(py.AppendMBps(), "py-append-MB/s")
	b.ReportMetric(py.GetMBps(), "py-get-MB/s")
	b.ReportMetric(res.AppendMBps()/py.AppendMBps(), "x-python-append")
	b.ReportMetric(res.GetMBps()/py.GetMBps(), "x-python-get")
	b.ReportMetric(res.GetIntoMBps()/py.GetMBps(), "x-python-get-into")
	if stack == "buffer" || stack == "buffer-log" {
		b.ReportMetric(float64(py.PeakRSS)/(1<<20), "py-peak-RSS-MiB")
	}
}

func BenchmarkW1(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchWorkload(b, workload.W1, "file") })
	b.Run("dict", func(b *testing.B) { benchWorkload(b, workload.W1, "dict") })
	b.Run("log", func(b *testing.B) { benchWorkload(b, workload.W1, "log") })
}

func BenchmarkW2(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchWorkload(b, workload.W2, "file") })
	b.Run("dict", func(b *testing.B) { benchWorkload(b, workload.W2, "dict") })
	b.Run("log", func(b *testing.B) { benchWorkload(b, workload.W2, "log") })
}

func BenchmarkW3(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchWorkload(b, workload.W3, "file") })
	b.Run("dict", func(b *testing.B) { benchWorkload(b, workload.W3, "dict") })
	b.Run("log", func(b *testing.B) { benchWorkload(b, workload.W3, "log") })
}

// BenchmarkW5 runs Buffer(Dict, File) (buffer) and Buffer(Dict, Log)
// (buffer-log) with a 64 MiB limit, each in a child process, so that the
// peak RSS it reports is the workload's alone.
func BenchmarkW5(b *testing.B) {
	b.Run("buffer", func(b *testing.B) { benchW5(b, "buffer") })
	b.Run("buffer-log", func(b *testing.B) { benchW5(b, "buffer-log") })
}

func benchW5(b *testing.B, stack string) {
	spec := workload.W5.Scaled(benchScale())
	b.SetBytes(spec.TotalBytes())
	var res workload.Result
	for b.Loop() {
		res = runWorkloadProcess(b, spec, stack)
	}
	b.ReportMetric(float64(res.PeakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(res.AppendRSS)/(1<<20), "append-peak-RSS-MiB")
	b.ReportMetric(float64(spec.MemLimit)/(1<<20), "limit-MiB")
	reportResult(b, res, stack)
}

// runWorkloadProcess runs a workload in a re-executed test binary (the
// helper "workload", see main_test.go) and returns its result.
func runWorkloadProcess(b *testing.B, spec workload.Spec, stack string) workload.Result {
	b.Helper()
	arg, _ := json.Marshal(spec)
	// No GOMEMLIMIT: the Buffer's Dict keeps its bytes off the heap.
	cmd := partdtest.StartHelper("workload", string(arg), stack, b.TempDir())
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("workload process: %v", err)
	}
	var res workload.Result
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("workload process printed %q: %v", out, err)
	}
	return res
}

// runWorkloadHelper is the "workload" role: args are the JSON spec, the
// stack and a directory.
func runWorkloadHelper(args []string) error {
	var spec workload.Spec
	if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
		return err
	}
	s, err := openStack(args[1], spec, args[2])
	if err != nil {
		return err
	}
	res, err := workload.Run(spec, s, 1)
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// BenchmarkW5InProcess is W5 in the benchmark's own process, for profiling.
func BenchmarkW5InProcess(b *testing.B) {
	b.Run("buffer", func(b *testing.B) { benchWorkload(b, workload.W5, "buffer") })
	b.Run("buffer-log", func(b *testing.B) { benchWorkload(b, workload.W5, "buffer-log") })
}
