package server_test

// Benchmarks of W4 (server-shuffle, WORKLOADS.md) against Python
// partd's server with its own Python clients and against a raw libzmq
// DEALER→ROUTER stream, all in one run, plus the small-message (100 B)
// request rate. Client processes are this test binary started again as
// partdtest helpers (see TestMain) or testdata/w4.py.
//
//	go test -run '^$' -bench W4 -benchtime 5x -timeout 30m ./server/
//	go test -run '^$' -bench SmallAppend -benchtime 2s ./server/
//
// Each W4 iteration runs, in a rotating order: the Go server with 4 Go
// client processes and a Go reader process, first as W4 is written (each
// process waits for each request) and again with 2 goroutines per process
// ("go2"); Python partd's server (over a partd.Dict, as the Go server uses a
// partd.Dict) with 4 Python client processes and a Python reader; and the raw
// stream, once with the protocol's 512 frames per batch and once packed in
// one frame. Reported: medians of MB/s (payload bytes / wall time), of the
// per-iteration ratios, and of the CPU seconds per GB used by all processes
// of a system (server and clients; from /proc/PID/stat), which depends much
// less on what else the machine runs.
//
// PARTD_W4_SCALE (default 1) scales the workload (workload.Spec.Scaled),
// PARTD_W4_ONLY=go|python|raw runs one system (for profiling), and
// PARTD_BENCH_DEBUG=1 logs each phase's wall and CPU time.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server/servertest"
)

// TestMain runs the tests, or, in a copy of the test binary, the benchmark
// client it was started as (runRole) or a writer of RunProcesses.
func TestMain(m *testing.M) {
	helpers := map[string]partdtest.Helper{}
	for _, role := range []string{"w4-go-client", "w4-go-reader", "w4-raw-client", "w4-raw-packed"} {
		helpers[role] = func(args []string) error { return runRole(role, args) }
	}
	partdtest.MainWithHelpers(m, map[string]partdtest.Opener{
		"client": func(addr string) (partd.Store, error) { return client.Dial(addr) },
	}, helpers)
}

// TestClientProcessesSuite: processes append through one server at once.
func TestClientProcessesSuite(t *testing.T) {
	srv := servertest.New(t, partd.NewBuffer(partd.NewDict(), partd.NewDict(), 4096))
	partdtest.RunProcesses(t, "client", srv.Addr(), 4, 150, servertest.Dial(t, srv))
}

// w4Spec is W4 scaled by PARTD_W4_SCALE.
func w4Spec() workload.Spec {
	scale := 1.0
	if s := os.Getenv("PARTD_W4_SCALE"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			scale = f
		}
	}
	return workload.W4.Scaled(scale)
}

// pregenerate returns a client's batches with values it owns.
func pregenerate(spec workload.Spec, seed uint64) []map[string][]byte {
	var out []map[string][]byte
	for batch := range spec.Batches(seed) {
		m := make(map[string][]byte, len(batch))
		for k, v := range batch {
			m[k] = slices.Clone(v)
		}
		out = append(out, m)
	}
	return out
}

// runRole is the body of a benchmark client process; args are the
// server's address, the client's seed and its goroutines. Protocol on
// stdin/stdout: print "ready", wait for a line, work, print "done …", wait
// for stdin to close.
func runRole(role string, args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("%s: arguments %q, want address, seed and goroutines", role, args)
	}
	addr := args[0]
	seed, _ := strconv.ParseUint(args[1], 10, 64)
	workers, _ := strconv.Atoi(args[2])
	workers = max(workers, 1)
	spec := w4Spec()
	in := bufio.NewReader(os.Stdin)
	ready := func() { fmt.Println("ready"); in.ReadString('\n') }
	finish := func(s string) { fmt.Println("done" + s); io.Copy(io.Discard, in) }
	switch role {
	case "w4-go-client":
		batches := pregenerate(spec, seed)
		c, err := client.Dial(addr, client.WithConns(workers))
		if err != nil {
			return err
		}
		defer c.Close()
		ready()
		// Each goroutine appends every workers-th batch, waiting for each.
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				for i := w; i < len(batches); i += workers {
					if err := c.Append(batches[i]); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				return err
			}
		}
		finish("")
	case "w4-go-reader":
		c, err := client.Dial(addr, client.WithConns(workers))
		if err != nil {
			return err
		}
		defer c.Close()
		keys := spec.KeyNames()
		ready()
		// Each goroutine gets every workers-th group of 16 keys.
		var total atomic.Int64
		errs := make(chan error, workers)
		for w := range workers {
			go func() {
				for i := 16 * w; i < len(keys); i += 16 * workers {
					vs, err := c.Get(keys[i:min(i+16, len(keys))]...)
					if err != nil {
						errs <- err
						return
					}
					for _, v := range vs {
						total.Add(int64(len(v)))
					}
				}
				errs <- nil
			}()
		}
		for range workers {
			if err := <-errs; err != nil {
				return err
			}
		}
		finish(fmt.Sprintf(" %d", total.Load()))
	case "w4-raw-client", "w4-raw-packed":
		packed := role == "w4-raw-packed"
		batches := pregenerate(spec, seed)
		sock, err := newRawDealer(addr)
		if err != nil {
			return err
		}
		defer sock.close()
		ready()
		for _, b := range batches {
			frames := make([][]byte, 0, 2*len(b))
			for k, v := range b {
				frames = append(frames, []byte(k), v)
			}
			if packed { // the same bytes in one frame
				var buf []byte
				for _, f := range frames {
					buf = append(buf, f...)
				}
				frames = [][]byte{buf}
			}
			if err := sock.send(frames...); err != nil {
				return err
			}
		}
		if err := sock.send([]byte("done")); err != nil {
			return err
		}
		if m, err := sock.recv(time.Minute); err != nil || m == nil {
			return fmt.Errorf("no answer to done: %v", err)
		}
		finish("")
	default:
		return fmt.Errorf("unknown role")
	}
	return nil
}

// proc is a benchmark client process.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startProc starts the program name (the Python client) with args.
func startProc(b *testing.B, name string, args ...string) *proc {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	return startCmd(b, cmd)
}

// startHelper starts this test binary as the benchmark client role with
// the server's address, the client's seed and its goroutines.
func startHelper(b *testing.B, role, addr string, seed, goroutines int) *proc {
	b.Helper()
	return startCmd(b, partdtest.StartHelper(role, addr, strconv.Itoa(seed), strconv.Itoa(goroutines)))
}

// startCmd starts cmd with pipes to its standard input and output.
func startCmd(b *testing.B, cmd *exec.Cmd) *proc {
	b.Helper()
	in, err := cmd.StdinPipe()
	must(b, err)
	out, err := cmd.StdoutPipe()
	must(b, err)
	must(b, cmd.Start())
	return &proc{cmd: cmd, in: in, out: bufio.NewReader(out)}
}

func (p *proc) line(b *testing.B, prefix string) string {
	b.Helper()
	l, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, prefix) {
		b.Fatalf("%s: got %q, %v; want %q…", p.cmd.Args, l, err, prefix)
	}
	return strings.TrimSpace(strings.TrimPrefix(l, prefix))
}

// cpuTime returns the user plus system CPU time process pid has used, from
// /proc/PID/stat (Linux; clock ticks of 10ms).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// runGroup waits until every process is ready, starts them together and
// returns the wall time until the last one is done, their done lines, and
// the CPU time they and the processes in also used meanwhile.
func runGroup(b *testing.B, procs []*proc, also ...int) (time.Duration, []string, time.Duration) {
	b.Helper()
	for _, p := range procs {
		p.line(b, "ready")
	}
	pids := slices.Clone(also)
	for _, p := range procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	var cpu0, also0 time.Duration
	for i, pid := range pids {
		cpu0 += cpuTime(pid)
		if i == len(also)-1 {
			also0 = cpu0
		}
	}
	start := time.Now()
	for _, p := range procs {
		io.WriteString(p.in, "go\n")
	}
	outs := make([]string, len(procs))
	for i, p := range procs {
		outs[i] = p.line(b, "done")
	}
	d := time.Since(start)
	var cpu time.Duration
	for _, pid := range pids {
		cpu += cpuTime(pid)
	}
	cpu -= cpu0
	if os.Getenv("PARTD_BENCH_DEBUG") != "" {
		var c time.Duration
		for _, pid := range also {
			c += cpuTime(pid)
		}
		b.Logf("%v: wall %v, cpu %v, of which server %v", procs[0].cmd.Args[1:], d, cpu, c-also0)
	}
	for _, p := range procs {
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			b.Fatalf("%s: %v", p.cmd.Args, err)
		}
	}
	return d, outs, cpu
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// BenchmarkW4 runs W4 on the Go server with Go client processes, on Python
// partd's server with Python client processes, and as a raw DEALER→ROUTER
// stream, once per iteration each, and reports the medians and the ratios.
func BenchmarkW4(b *testing.B) {
	spec := w4Spec()
	py := python(b)
	total := spec.TotalBytes() * int64(spec.Clients)
	only := os.Getenv("PARTD_W4_ONLY") // "go", "python" or "raw": profile one system
	gb := float64(total) / 1e9
	cpuPerGB := func(d time.Duration) float64 { return d.Seconds() / gb }
	var rawPacked, rawPackedCPU, go2App, go2Get, x2App, x2Get []float64
	var goApp, goGet, pyApp, pyGet, raw, xApp, xGet, pctRaw, goCPU, pyCPU, rawCPU, goGetCPU, pyGetCPU []float64
	for i := 0; i < b.N; i++ {
		// Rotate the order so a change in machine load hits every system.
		var ga, pa, gg, pg, r float64
		for j := range 3 {
			switch (i + j) % 3 {
			case 0:
				if only == "" || only == "go" {
					res := w4Go(b, spec, 1)
					ga, gg = mbps(total, res.app), mbps(total, res.get)
					goApp, goGet = append(goApp, ga), append(goGet, gg)
					goCPU, goGetCPU = append(goCPU, cpuPerGB(res.appCPU)), append(goGetCPU, cpuPerGB(res.getCPU))
					res = w4Go(b, spec, 2)
					ga2, gg2 := mbps(total, res.app), mbps(total, res.get)
					go2App, go2Get = append(go2App, ga2), append(go2Get, gg2)
					x2App, x2Get = append(x2App, ga2), append(x2Get, gg2) // divided by Python's below
				}
			case 1:
				if only == "" || only == "python" {
					res := w4Python(b, py, spec)
					pa, pg = mbps(total, res.app), mbps(total, res.get)
					pyApp, pyGet = append(pyApp, pa), append(pyGet, pg)
					pyCPU, pyGetCPU = append(pyCPU, cpuPerGB(res.appCPU)), append(pyGetCPU, cpuPerGB(res.getCPU))
				}
			case 2:
				if only == "" || only == "raw" {
					res := w4Raw(b, spec, "w4-raw-client")
					r = mbps(total, res.app)
					raw, rawCPU = append(raw, r), append(rawCPU, cpuPerGB(res.appCPU))
					res = w4Raw(b, spec, "w4-raw-packed")
					rp := mbps(total, res.app)
					rawPacked, rawPackedCPU = append(rawPacked, rp), append(rawPackedCPU, cpuPerGB(res.appCPU))
					r = max(r, rp)
				}
			}
		}
		if only == "" {
			xApp, xGet, pctRaw = append(xApp, ga/pa), append(xGet, gg/pg), append(pctRaw, 100*ga/r)
			x2App[len(x2App)-1] /= pa
			x2Get[len(x2Get)-1] /= pg
		}
	}
	b.ReportMetric(median(go2App), "go2-append-MB/s")
	b.ReportMetric(median(go2Get), "go2-get-MB/s")
	b.ReportMetric(median(x2App), "go2-append-x-python")
	b.ReportMetric(median(x2Get), "go2-get-x-python")
	b.ReportMetric(median(goCPU), "go-append-cpu-s/GB")
	b.ReportMetric(median(pyCPU), "py-append-cpu-s/GB")
	b.ReportMetric(median(rawCPU), "raw-cpu-s/GB")
	b.ReportMetric(median(goGetCPU), "go-get-cpu-s/GB")
	b.ReportMetric(median(pyGetCPU), "py-get-cpu-s/GB")
	b.ReportMetric(median(goApp), "go-append-MB/s")
	b.ReportMetric(median(goGet), "go-get-MB/s")
	b.ReportMetric(median(pyApp), "py-append-MB/s")
	b.ReportMetric(median(pyGet), "py-get-MB/s")
	b.ReportMetric(median(raw), "raw-MB/s")
	b.ReportMetric(median(rawPacked), "raw-packed-MB/s")
	b.ReportMetric(median(rawPackedCPU), "raw-packed-cpu-s/GB")
	b.ReportMetric(median(xApp), "append-x-python")
	b.ReportMetric(median(xGet), "get-x-python")
	b.ReportMetric(median(pctRaw), "append-%-of-raw")
	b.Logf("W4 %d clients × %d appends of %d B (%d MB): go append %.0f get %.0f, python append %.0f get %.0f, raw %.0f MB/s; per run: append ×python %.2f, get ×python %.2f, %% of raw %.0f; CPU s/GB append go %.2f python %.2f raw %.2f, get go %.2f python %.2f; raw packed %.0f MB/s, %.2f CPU s/GB; 2 goroutines per process: append %.0f get %.0f MB/s, ×python %.2f %.2f",
		spec.Clients, spec.Appends, spec.ValueSize, total/1e6, goApp, goGet, pyApp, pyGet, raw, xApp, xGet, pctRaw, goCPU, pyCPU, rawCPU, goGetCPU, pyGetCPU, rawPacked, rawPackedCPU, go2App, go2Get, x2App, x2Get)
}

// w4Result is one run of W4 on one system: wall and CPU times (all
// processes: server and clients) of the append and get phases.
type w4Result struct {
	app, get, appCPU, getCPU time.Duration
}

// w4Go runs W4 on the Go server; each client process and the reader use
// goroutines concurrent requests (1 is W4 as written: each client waits for
// each append).
func w4Go(b *testing.B, spec workload.Spec, goroutines int) (res w4Result) {
	s := startServer(b, partd.NewDict(), "")
	defer s.Close()
	var procs []*proc
	for c := range spec.Clients {
		procs = append(procs, startHelper(b, "w4-go-client", s.Addr(), c+1, goroutines))
	}
	res.app, _, res.appCPU = runGroup(b, procs, os.Getpid())
	r := startHelper(b, "w4-go-reader", s.Addr(), 0, goroutines)
	var outs []string
	res.get, outs, res.getCPU = runGroup(b, []*proc{r}, os.Getpid())
	if want := fmt.Sprint(spec.TotalBytes() * int64(spec.Clients)); outs[0] != want {
		b.Fatalf("Go reader got %s bytes, want %s", outs[0], want)
	}
	return res
}

func w4Python(b *testing.B, py string, spec workload.Spec) (res w4Result) {
	srv := startProc(b, py, "testdata/w4.py", "server")
	port := srv.line(b, "")
	addr := "tcp://127.0.0.1:" + port
	defer func() {
		srv.in.Close()
		srv.cmd.Wait()
	}()
	var procs []*proc
	for c := range spec.Clients {
		procs = append(procs, startProc(b, py, "testdata/w4.py", "client", addr, fmt.Sprint(c+1),
			fmt.Sprint(spec.Appends), fmt.Sprint(spec.Keys), fmt.Sprint(spec.Batch), fmt.Sprint(spec.ValueSize)))
	}
	res.app, _, res.appCPU = runGroup(b, procs, srv.cmd.Process.Pid)
	r := startProc(b, py, "testdata/w4.py", "reader", addr, fmt.Sprint(spec.Keys))
	var outs []string
	res.get, outs, res.getCPU = runGroup(b, []*proc{r}, srv.cmd.Process.Pid)
	if want := fmt.Sprint(spec.TotalBytes() * int64(spec.Clients)); outs[0] != want {
		b.Fatalf("Python reader got %s bytes, want %s", outs[0], want)
	}
	return res
}

// w4Raw streams the same batches from DEALERs to a ROUTER that receives and
// discards them: the transport's ceiling.
func w4Raw(b *testing.B, spec workload.Spec, role string) (res w4Result) {
	sink, err := newRawRouter("tcp://127.0.0.1:*")
	must(b, err)
	addr := sink.addr()
	var stop atomic.Bool
	var received atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() { // owns sink
		defer sink.close()
		for !stop.Load() {
			msg, err := sink.recv(100 * time.Millisecond)
			if err != nil || msg == nil {
				continue
			}
			if len(msg) == 2 && string(msg[1]) == "done" {
				sink.send(msg[0], []byte("ok"))
				continue
			}
			for _, f := range msg[1:] {
				received.Add(int64(len(f)))
			}
		}
	})
	var procs []*proc
	for c := range spec.Clients {
		procs = append(procs, startHelper(b, role, addr, c+1, 1))
	}
	res.app, _, res.appCPU = runGroup(b, procs, os.Getpid())
	stop.Store(true)
	wg.Wait()
	if min := spec.TotalBytes() * int64(spec.Clients); received.Load() < min {
		b.Fatalf("raw sink received %d bytes, want at least %d", received.Load(), min)
	}
	return res
}

// BenchmarkSmallAppend measures the request rate of 100-byte appends: a Go
// client calling sequentially and from 8 goroutines against the Go server,
// and Python's client against the Go server and against Python's server.
func BenchmarkSmallAppend(b *testing.B) {
	value := make([]byte, 100)
	b.Run("go-client/go-server/sequential", func(b *testing.B) {
		s := startServer(b, partd.NewDict(), "")
		c := dial(b, s.Addr())
		batch := map[string][]byte{"small": value}
		b.ResetTimer()
		for b.Loop() {
			if err := c.Append(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
	b.Run("go-client/go-server/8-goroutines", func(b *testing.B) {
		s := startServer(b, partd.NewDict(), "")
		c := dial(b, s.Addr(), client.WithConns(8))
		var n atomic.Int64
		b.SetParallelism(8 / max(1, runtimeProcs()))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			k := fmt.Sprintf("small-%d", n.Add(1))
			batch := map[string][]byte{k: value}
			for pb.Next() {
				if err := c.Append(batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	})
	py := python(b)
	small := func(b *testing.B, addr string) {
		n := max(b.N, 2000)
		out, err := exec.Command(py, "testdata/w4.py", "small", addr, fmt.Sprint(n)).Output()
		must(b, err)
		secs, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(string(out), "done")), 64)
		must(b, err)
		b.ReportMetric(float64(n)/secs, "req/s")
	}
	b.Run("python-client/go-server", func(b *testing.B) {
		s := startServer(b, partd.NewDict(), "")
		small(b, s.Addr())
	})
	b.Run("python-client/python-server", func(b *testing.B) {
		srv := startProc(b, py, "testdata/w4.py", "server")
		port := srv.line(b, "")
		defer func() { srv.in.Close(); srv.cmd.Wait() }()
		small(b, "tcp://127.0.0.1:"+port)
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
