package redisstore_test

// BenchmarkW4 runs W4 (server-shuffle, WORKLOADS.md) through Redis:
// spec.Clients writer processes append W4's batches through a Store, then
// one reader process gets every key. The processes are this test binary
// started again as partdtest helpers (see TestMain).
//
//	go test -run '^$' -bench W4 -benchtime 3x -timeout 30m ./redisstore
//
// Sub-benchmarks: single (one redis-server) and cluster (3 masters with a
// replica each). Beside each run, redis-benchmark appends as many values of
// the same size to as many keys (at least W4's full 64 Ki values: see
// w4Ceiling), pipelined (-P 64) from as many connections as W4 has clients,
// to the same Redis: the ceiling of what a client could get from it.
// Reported, medians over the iterations: append-MB/s (payload bytes / wall
// time from the writers' start to the last one's last acknowledged Append),
// get-MB/s (the reader's), ceiling-MB/s (redis-benchmark's requests/s ×
// value size, the median of 3 runs) and ratio-to-ceiling (append-MB/s /
// ceiling-MB/s of the same iteration).
//
// redis-benchmark has no built-in APPEND test (-t append runs nothing), so
// the ceiling is the command line "APPEND w4ceil:__rand_int__ VALUE" with
// the value read from stdin (-x; -d applies to built-in tests only) and -r
// the workload's key count; in a cluster (--cluster) the key carries
// redis-benchmark's {tag}, which it replaces by a hash tag of the node each
// connection is on. After each run the test checks that Redis holds every
// byte redis-benchmark claims to have sent.
//
// PARTD_BENCH_SCALE (default 1) scales the workload (workload.Spec.Scaled),
// as the root package's benchmarks do. PARTD_BENCH_CPUPROFILE=PATH has
// writer process i write a CPU profile of its appends to PATH.i.
// PARTD_BENCH_DEBUG=1 logs each phase's wall and CPU time.

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func init() {
	helpers["w4-writer"] = w4Writer
	helpers["w4-reader"] = w4Reader
}

// benchScale is PARTD_BENCH_SCALE, 1 unless set to a positive number.
func benchScale() float64 {
	if f, err := strconv.ParseFloat(os.Getenv("PARTD_BENCH_SCALE"), 64); err == nil && f > 0 {
		return f
	}
	return 1
}

// w4Spec is W4 scaled by PARTD_BENCH_SCALE.
func w4Spec() workload.Spec { return workload.W4.Scaled(benchScale()) }

// w4KeyBytes is how many bytes key i holds once every writer is done:
// append n of a client goes to key n mod Keys.
func w4KeyBytes(spec workload.Spec, i int) int64 {
	n := spec.Appends / spec.Keys
	if i < spec.Appends%spec.Keys {
		n++
	}
	return int64(n) * int64(spec.ValueSize) * int64(spec.Clients)
}

// dialArgs opens the store a child's arguments name: the Redis addresses
// (comma-separated; several make a cluster client) and the prefix.
func dialArgs(addrList, prefix string) (*redisstore.Store, error) {
	addrs := strings.Split(addrList, ",")
	return redisstore.Dial(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1}, prefix)
}

// The protocol of a benchmark child on stdin/stdout: print "ready", wait for
// a line, work, print "done …", wait for stdin to close.
func childReady(in *bufio.Reader) {
	fmt.Println("ready")
	_, _ = in.ReadString('\n')
}

func childDone(in *bufio.Reader, s string) {
	fmt.Println("done" + s)
	_, _ = io.Copy(io.Discard, in)
}

// w4Writer appends the batches of one of W4's clients; args are the Redis
// addresses, the prefix and the client's seed.
func w4Writer(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("w4-writer: arguments %q, want addresses, prefix and seed", args)
	}
	seed, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	spec := w4Spec()
	var batches []map[string][]byte
	for batch := range spec.Batches(seed) {
		m := make(map[string][]byte, len(batch))
		for k, v := range batch {
			m[k] = slices.Clone(v)
		}
		batches = append(batches, m)
	}
	s, err := dialArgs(args[0], args[1])
	if err != nil {
		return err
	}
	defer s.Close()
	in := bufio.NewReader(os.Stdin)
	childReady(in)
	if path := os.Getenv("PARTD_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path + "." + args[2])
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, b := range batches {
		if err := s.Append(b); err != nil {
			return err
		}
	}
	childDone(in, "")
	return nil
}

// w4Reader gets every key of W4, 16 keys a call, checks that each holds
// every writer's bytes, and prints the bytes it read; args are the Redis
// addresses and the prefix.
func w4Reader(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("w4-reader: arguments %q, want addresses and prefix", args)
	}
	spec := w4Spec()
	s, err := dialArgs(args[0], args[1])
	if err != nil {
		return err
	}
	defer s.Close()
	keys := spec.KeyNames()
	in := bufio.NewReader(os.Stdin)
	childReady(in)
	var total int64
	for first := 0; first < len(keys); first += 16 {
		chunk := keys[first:min(first+16, len(keys))]
		vals, err := s.Get(chunk...)
		if err != nil {
			return err
		}
		for i, v := range vals {
			if want := w4KeyBytes(spec, first+i); int64(len(v)) != want {
				return fmt.Errorf("%s holds %d bytes, want %d", chunk[i], len(v), want)
			}
			total += int64(len(v))
		}
	}
	childDone(in, fmt.Sprintf(" %d", total))
	return nil
}

// proc is a benchmark child process.
type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startProc starts this test binary as the helper name with args.
func startProc(b *testing.B, name string, args ...string) *proc {
	b.Helper()
	cmd := partdtest.StartHelper(name, args...)
	in, err := cmd.StdinPipe()
	must(b, err)
	out, err := cmd.StdoutPipe()
	must(b, err)
	must(b, cmd.Start())
	p := &proc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.Cleanup(func() { // on failure; after a clean run it has exited
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

func (p *proc) line(b *testing.B, prefix string) string {
	b.Helper()
	l, err := p.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, prefix) {
		b.Fatalf("%s: got %q, %v; want %q…", p.cmd.Env[len(p.cmd.Env)-1], l, err, prefix)
	}
	return strings.TrimSpace(strings.TrimPrefix(l, prefix))
}

// cpuTime returns the user plus system CPU time process pid has used, from
// /proc/PID/stat (Linux; 0 elsewhere).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// runGroup waits until every process is ready, starts them together and
// returns the wall time until the last one is done, and their done lines.
// With PARTD_BENCH_DEBUG set, it logs the CPU time the processes and the
// servers (pids) used meanwhile.
func runGroup(b *testing.B, procs []*proc, servers []int) (time.Duration, []string) {
	b.Helper()
	for _, p := range procs {
		p.line(b, "ready")
	}
	cpu := func(pids []int) (d time.Duration) {
		for _, pid := range pids {
			d += cpuTime(pid)
		}
		return d
	}
	var clients []int
	for _, p := range procs {
		clients = append(clients, p.cmd.Process.Pid)
	}
	cpuC, cpuS := cpu(clients), cpu(servers)
	start := time.Now()
	for _, p := range procs {
		_, _ = io.WriteString(p.in, "go\n")
	}
	outs := make([]string, len(procs))
	for i, p := range procs {
		outs[i] = p.line(b, "done")
	}
	d := time.Since(start)
	if os.Getenv("PARTD_BENCH_DEBUG") != "" {
		b.Logf("%d × %s: wall %v, CPU: clients %v, Redis %v", len(procs), procs[0].cmd.Env[len(procs[0].cmd.Env)-1],
			d, cpu(clients)-cpuC, cpu(servers)-cpuS)
	}
	for _, p := range procs {
		p.in.Close()
		if err := p.cmd.Wait(); err != nil {
			b.Fatalf("%s: %v", p.cmd.Env[len(p.cmd.Env)-1], err)
		}
	}
	return d, outs
}

// serverPIDs returns the process ids of the Redis servers at addrs.
func serverPIDs(b *testing.B, addrs []string) []int {
	b.Helper()
	var pids []int
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.Info(context.Background(), "server").Result()
		c.Close()
		must(b, err)
		for l := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
				pid, err := strconv.Atoi(v)
				must(b, err)
				pids = append(pids, pid)
			}
		}
	}
	return pids
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

// BenchmarkW4 runs W4 through a Store on one redis-server and on a cluster
// of 3 masters with a replica each, beside redis-benchmark's pipelined
// APPEND on the same Redis.
func BenchmarkW4(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		srv := redistest.NewServer(b)
		benchW4(b, []string{srv.Addr})
	})
	b.Run("cluster", func(b *testing.B) {
		cl := redistest.NewCluster(b, 3, 1)
		benchW4(b, cl.Addrs())
	})
}

func benchW4(b *testing.B, addrs []string) {
	spec := w4Spec()
	total := spec.TotalBytes() * int64(spec.Clients)
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Fatalf("redis-benchmark not found in PATH (Debian's redis-tools; scripts/deps.sh installs it): %v", err)
	}
	value := filepath.Join(b.TempDir(), "value")
	// Random bytes but no NUL: redis-benchmark -x cuts its argument at one.
	v := make([]byte, spec.ValueSize)
	r := rand.New(rand.NewPCG(4, 4))
	for i := range v {
		v[i] = byte(1 + r.IntN(255))
	}
	must(b, os.WriteFile(value, v, 0o644))

	pids := serverPIDs(b, addrs)
	var app, get, ceil, ratio []float64
	for i := 0; i < b.N; i++ {
		// Alternate the order, so that a change in the machine's load
		// hits both.
		var a, c float64
		for j := range 2 {
			if (i+j)%2 == 0 {
				c = w4Ceiling(b, bench, addrs, spec, value)
				continue
			}
			prefix := fmt.Sprintf("w4-%d-%d", os.Getpid(), i)
			addrList := strings.Join(addrs, ",")
			var procs []*proc
			for c := range spec.Clients {
				procs = append(procs, startProc(b, "w4-writer", addrList, prefix, strconv.Itoa(c+1)))
			}
			d, _ := runGroup(b, procs, pids)
			a = mbps(total, d)
			d, outs := runGroup(b, []*proc{startProc(b, "w4-reader", addrList, prefix)}, pids)
			if outs[0] != fmt.Sprint(total) {
				b.Fatalf("reader got %s bytes, want %d", outs[0], total)
			}
			get = append(get, mbps(total, d))
			flushAll(b, addrs)
		}
		app, ceil, ratio = append(app, a), append(ceil, c), append(ratio, a/c)
	}
	b.ReportMetric(median(app), "append-MB/s")
	b.ReportMetric(median(get), "get-MB/s")
	b.ReportMetric(median(ceil), "ceiling-MB/s")
	b.ReportMetric(median(ratio), "ratio-to-ceiling")
	b.Logf("W4 ×%g on %d node(s): %d clients × %d appends of %d B (%.0f MB): append %.0f, get %.0f, redis-benchmark %.0f MB/s; ratio %.2f",
		benchScale(), len(addrs), spec.Clients, spec.Appends, spec.ValueSize, float64(total)/1e6, app, get, ceil, ratio)
}

// w4Ceiling runs redis-benchmark's pipelined APPEND of as many values of
// W4's size as W4 appends, from as many connections as W4 has clients,
// three times, checks that Redis got every byte, and returns the median
// throughput in MB/s. It leaves Redis empty.
//
// A scaled-down W4 is measured against the full one (64 Ki values over 256
// keys): redis-benchmark counts its own start-up in its time, about a
// quarter of a second in cluster mode, which would swamp a run of a few
// tens of megabytes; a rate measured over 256 MiB is what Redis sustains.
func w4Ceiling(b *testing.B, bench string, addrs []string, spec workload.Spec, value string) float64 {
	b.Helper()
	if spec.TotalBytes() < workload.W4.TotalBytes() {
		spec = workload.W4
	}
	host, port, err := net.SplitHostPort(addrs[0])
	must(b, err)
	// redis-benchmark sends whole pipelines of 64.
	n := (spec.Clients*spec.Appends + 63) / 64 * 64
	args := []string{"-h", host, "-p", port, "-P", "64", "-n", strconv.Itoa(n), "-r", strconv.Itoa(spec.Keys),
		"-c", strconv.Itoa(spec.Clients), "--csv"}
	key := "w4ceil:__rand_int__"
	if len(addrs) > 1 {
		args = append(args, "--cluster")
		key = "w4ceil:{tag}:__rand_int__"
	}
	args = append(args, "-x", "APPEND", key)
	var runs []float64
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, bench, args...)
		f, err := os.Open(value)
		must(b, err)
		cmd.Stdin = f
		out, err := cmd.Output()
		f.Close()
		cancel()
		if err != nil {
			b.Fatalf("redis-benchmark %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		// The CSV's header is "test","rps",…; the APPEND line follows.
		recs, err := csv.NewReader(strings.NewReader(csvPart(string(out)))).ReadAll()
		if err != nil || len(recs) < 2 || len(recs[1]) < 2 || recs[0][1] != "rps" {
			b.Fatalf("redis-benchmark %s: unexpected output (%v):\n%s", strings.Join(args, " "), err, out)
		}
		rps, err := strconv.ParseFloat(recs[1][1], 64)
		if err != nil || rps <= 0 {
			b.Fatalf("redis-benchmark: requests/s %q: %v", recs[1][1], err)
		}
		if got, want := storedBytes(b, addrs, "w4ceil:*"), int64(n)*int64(spec.ValueSize); got != want {
			b.Fatalf("redis-benchmark %s stored %d bytes, want %d", strings.Join(args, " "), got, want)
		}
		flushAll(b, addrs)
		if os.Getenv("PARTD_BENCH_DEBUG") != "" {
			b.Logf("redis-benchmark %s: %.0f requests/s", strings.Join(args, " "), rps)
		}
		runs = append(runs, rps*float64(spec.ValueSize)/1e6)
	}
	return median(runs)
}

// storedBytes returns the bytes of the strings matching pattern on every
// master of the Redis at addrs.
func storedBytes(b *testing.B, addrs []string, pattern string) int64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var total atomic.Int64
	sum := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			n, err := c.StrLen(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			total.Add(n)
		}
		return iter.Err()
	}
	if len(addrs) == 1 {
		c := redis.NewClient(&redis.Options{Addr: addrs[0]})
		defer c.Close()
		must(b, sum(ctx, c))
	} else {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		defer c.Close()
		must(b, c.ForEachMaster(ctx, sum))
	}
	return total.Load()
}

// csvPart returns the lines of redis-benchmark's output from its CSV
// header on (in cluster mode it first prints the cluster's nodes).
func csvPart(out string) string {
	if i := strings.Index(out, `"test","rps"`); i >= 0 {
		return out[i:]
	}
	return out
}

// flushAll empties every master of the Redis at addrs.
func flushAll(b *testing.B, addrs []string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if len(addrs) == 1 {
		c := redis.NewClient(&redis.Options{Addr: addrs[0]})
		defer c.Close()
		must(b, c.FlushAll(ctx).Err())
		return
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	must(b, c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	}))
}
