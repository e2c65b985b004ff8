package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/cmd/partd/internal/bench"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/server"
)

// benchFlags are the options of `partd bench`.
type benchFlags struct {
	workloads []string
	stacks    []string
	scale     float64
	runs      int
	python    bool
	seed      uint64
	json      bool
	getKeys   []int
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the canonical workloads, optionally beside Python partd",
		Long: `Run the canonical workloads (W1-W7 of WORKLOADS.md) on the chosen
stacks and print a Markdown table: append and get throughput (payload MB/s,
10^6 bytes per second of time spent in the store's calls), peak RSS of the
process that ran the workload, and bytes on disk. Each run is its own child
process, so its peak RSS is its own; figures are medians over --runs.

Every workload but W4 reads every key back twice: with Get ("get MB/s"),
which returns memory the caller owns, then with partd.GetAppend into
buffers reused from call to call ("get-into MB/s"), as a caller that cares
for speed reads. Both check every byte against what was appended.

Stacks: dict, file, log (a Log store), buffer and buffer-log (a Buffer over
File or Log; W5's 64 MiB limit, else 1 GB), zlib, snappy, zstd (each over
File), and server for W4 (4 client processes appending to an embedded server
serving a Buffer over a Log, then one reader process). Without --stack,
W1-W3 run on dict, file and log, W4 on server, W5 on buffer and buffer-log,
W6 on zlib, snappy and zstd.

--python also runs each workload on Python partd 1.3 (/usr/bin/python3) with
the same stack in the same run, and adds its figures and the ratios; Python
partd has no Log, so log is compared with its File and buffer-log with its
Buffer(Dict, File), and it has no get into buffers, so get-into ×py compares
with its plain get. Its W4 is Python's zmq Server over partd.Buffer(Dict,
File) with Python clients. --scale shrinks every workload (0.1 runs a tenth
of the appends). --get-keys sets how many keys each Get of the read-back asks
for (Python's too): 1 reads one key per Get, as a reducer reads its
partition; 0, the default, up to 1,000 keys and about 4 MiB per Get; a list
(--get-keys 1,0) gives a row per value. --json prints the figures as JSON instead of the table.

W7, the dataframe shuffle, runs only when named (--workload W7): 10,000,000
rows of 8 columns in 4 Parquet files (made once, cached in the temporary
directory) shuffled by key into 64 Parquet partitions by 'partd shuffle
--input', run as a child process and timed from outside, as a user runs it,
with its default memory and with --memory 64MiB; its own table gives seconds,
rows/s and the largest process's peak RSS. --python adds Dask 2022.12's disk
shuffle (on Python partd; python3-dask) of the same number of rows.`,
		Example: `  partd bench
  partd bench --workload W1,W5 --stack file,log,buffer,buffer-log --scale 0.1 --runs 3
  partd bench --scale 0.1 --python
  partd bench --workload W1 --stack file --runs 1 --json
  partd bench --python --workload W1,W3 --stack log --get-keys 1,0
  partd bench --workload W7 --python`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.workloads, "workload", []string{"W1", "W2", "W3", "W4", "W5", "W6"}, "workloads to run (comma-separated)")
	fl.StringSliceVar(&f.stacks, "stack", nil, "stacks to run them on: "+strings.Join(bench.Stacks, ", ")+" (default: per workload)")
	fl.Float64Var(&f.scale, "scale", 1, "fraction of each workload's appends to run")
	fl.IntVar(&f.runs, "runs", 3, "runs of each workload; the table shows medians")
	fl.BoolVar(&f.python, "python", false, "also run Python partd 1.3 on the same workloads and show the ratios")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the generated values (run i uses seed+i)")
	fl.BoolVar(&f.json, "json", false, "print the figures as JSON instead of a Markdown table")
	fl.IntSliceVar(&f.getKeys, "get-keys", nil, "keys per Get of the read-back, a row per value: 1 reads as a reducer does, 0 up to 1,000 keys and about 4 MiB per Get (default 0)")
	return cmd
}

// benchPlan is one workload on one stack.
type benchPlan struct {
	spec  workload.Spec
	stack string
}

// label names the plan's workload in the table: its name, and how many
// keys a Get asks for where --get-keys sets it.
func (p benchPlan) label() workload.Spec {
	s := p.spec
	if s.GetKeys == 1 {
		s.Name += ", 1 key per Get"
	} else if s.GetKeys > 1 {
		s.Name += fmt.Sprintf(", %d keys per Get", s.GetKeys)
	}
	return s
}

func runBench(cmd *cobra.Command, f benchFlags) error {
	if err := f.check(); err != nil {
		return err
	}
	f, w7 := f.splitW7()
	if w7 {
		if err := runBenchW7(cmd, f); err != nil || len(f.workloads) == 0 {
			return err
		}
	}
	plans, err := planBench(cmd.ErrOrStderr(), f)
	if err != nil {
		return err
	}
	var rows []bench.Row
	for _, p := range plans {
		row, err := measurePlan(cmd.Context(), cmd.ErrOrStderr(), p, f)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	if f.json {
		return writeBenchJSON(cmd.OutOrStdout(), rows, f)
	}
	return writeBenchTable(cmd.OutOrStdout(), rows, f)
}

// check validates the flags that need no workload.
func (f benchFlags) check() error {
	if f.scale <= 0 || f.scale > 10 {
		return usageError{errors.New("--scale must be in (0, 10]")}
	}
	if f.runs < 1 {
		return usageError{errors.New("--runs must be at least 1")}
	}
	for _, s := range f.stacks {
		if !contains(bench.Stacks, s) {
			return usageError{fmt.Errorf("--stack: unknown stack %q (want %s)", s, strings.Join(bench.Stacks, ", "))}
		}
	}
	for _, n := range f.getKeys {
		if n < 0 {
			return usageError{fmt.Errorf("--get-keys: %d is negative (0 reads up to 1,000 keys and about 4 MiB per Get)", n)}
		}
	}
	return nil
}

// planBench returns the plans to run: every workload on every stack it
// runs on (the given ones, or its defaults), once per --get-keys value.
func planBench(stderr io.Writer, f benchFlags) ([]benchPlan, error) {
	getKeys := f.getKeys
	if len(getKeys) == 0 {
		getKeys = []int{0}
	}
	var plans []benchPlan
	for _, id := range f.workloads {
		spec, ok := workload.ByID(strings.TrimSpace(id))
		if !ok {
			return nil, usageError{fmt.Errorf("--workload: unknown workload %q (want W1 to W7)", id)}
		}
		stacks := f.stacks
		if len(stacks) == 0 {
			stacks = bench.DefaultStacks(spec)
		}
		n := 0
		for _, s := range stacks {
			if !bench.Applies(spec, s) {
				continue
			}
			for _, k := range getKeys {
				sp := spec.Scaled(f.scale)
				sp.GetKeys = k
				plans = append(plans, benchPlan{sp, s})
			}
			n++
		}
		if n == 0 {
			fmt.Fprintf(stderr, "partd: bench: %s does not run on %s; skipped (W4 runs only on server, and server only runs W4)\n",
				spec.ID, strings.Join(stacks, ","))
		}
	}
	if len(plans) == 0 {
		return nil, usageError{errors.New("nothing to run: no workload runs on the given stacks")}
	}
	return plans, nil
}

// measurePlan runs p f.runs times, Python partd's run beside each Go run
// with --python, and returns the medians.
func measurePlan(ctx context.Context, stderr io.Writer, p benchPlan, f benchFlags) (bench.Row, error) {
	var goRuns, pyRuns []bench.Measurement
	for r := range f.runs {
		seed := f.seed + uint64(r)
		// Every run starts on a settled disk: the previous run's files
		// (100,000 of them for W3) are written back and deleted first.
		syncDisks()
		m, err := benchChild(ctx, stderr, p, f.scale, seed)
		if err != nil {
			return bench.Row{}, err
		}
		goRuns = append(goRuns, m)
		fmt.Fprintf(stderr, "partd: bench: %s %s run %d/%d: append %.1f MB/s, get %.1f MB/s, get-into %.1f MB/s, peak RSS %s\n",
			p.spec.ID, p.stack, r+1, f.runs, m.AppendMBps, m.GetMBps, m.GetIntoMBps, bench.FormatBytes(m.PeakRSS))
		if !f.python {
			continue
		}
		syncDisks()
		pm, err := measurePython(p, seed)
		if err != nil {
			return bench.Row{}, err
		}
		pyRuns = append(pyRuns, pm)
		fmt.Fprintf(stderr, "partd: bench: %s %s run %d/%d, Python partd %s: append %.1f MB/s, get %.1f MB/s, peak RSS %s\n",
			p.spec.ID, p.stack, r+1, f.runs, pm.Stack, pm.AppendMBps, pm.GetMBps, bench.FormatBytes(pm.PeakRSS))
	}
	row := bench.Row{Spec: p.label(), Go: bench.Median(goRuns)}
	if len(pyRuns) > 0 {
		pm := bench.Median(pyRuns)
		row.Py = &pm
	}
	return row, nil
}

// measurePython runs p once on Python partd: the stack Python compares
// with (workload.PythonStack), or for the server stack its zmq server.
// A workload with a baseline of its own adds a case here.
func measurePython(p benchPlan, seed uint64) (bench.Measurement, error) {
	switch p.stack {
	case "server":
		return bench.RunPythonW4(p.spec, seed)
	}
	pyStack := workload.PythonStack(p.stack)
	res, err := workload.RunPython(p.spec, pyStack, "", seed)
	if err != nil {
		return bench.Measurement{}, err
	}
	return bench.FromResult(pyStack, res), nil
}

// writeBenchTable prints the rows as a Markdown table under a line that
// gives the command, the machine and the date.
func writeBenchTable(out io.Writer, rows []bench.Row, f benchFlags) error {
	fmt.Fprintf(out, "`partd %s`: %s, median of %d run(s), %s", strings.Join(os.Args[1:], " "), bench.Machine(), f.runs,
		time.Now().UTC().Format("2006-01-02"))
	if f.python {
		fmt.Fprintf(out, "; %s", pythonVersion())
	}
	fmt.Fprint(out, "\n\n")
	if err := bench.WriteTable(out, rows, f.python); err != nil {
		return err
	}
	if f.python {
		fmt.Fprintln(out, "\n×py: Go figure / Python partd 1.3 figure (above 1: Go is faster). Python partd has no Log: "+
			"log is compared with its File, buffer-log with its Buffer(Dict, File). It has no get into the caller's buffers: "+
			"get-into ×py is Go's get-into over Python's get. Python's zstd stack is partd.Encode with "+
			"the zstandard module. Python's Dict keeps references to the appended bytes objects and copies nothing, "+
			"so its dict append figures measure list appends. Both read back with the same number of keys per get call.")
	}
	return nil
}

// benchJSON is the output of partd bench --json.
type benchJSON struct {
	Command string         `json:"command"`
	Machine string         `json:"machine"`
	Date    string         `json:"date"`
	Runs    int            `json:"runs"`
	Python  string         `json:"python,omitempty"` // the Python partd compared with, with --python
	Rows    []benchJSONRow `json:"rows"`
}

// benchJSONRow is one workload on one stack: the medians of the runs.
type benchJSONRow struct {
	Workload string             `json:"workload"`
	Name     string             `json:"name"`
	Stack    string             `json:"stack"`
	GetKeys  int                `json:"get_keys,omitempty"` // keys per Get of the read-back; 0: the default batches
	Go       bench.Measurement  `json:"go"`
	Py       *bench.Measurement `json:"python,omitempty"`
	PyNote   string             `json:"python_note,omitempty"`
}

func writeBenchJSON(w io.Writer, rows []bench.Row, f benchFlags) error {
	out := benchJSON{Command: "partd " + strings.Join(os.Args[1:], " "), Machine: bench.Machine(),
		Date: time.Now().UTC().Format("2006-01-02"), Runs: f.runs, Rows: []benchJSONRow{}}
	if f.python {
		out.Python = pythonVersion()
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, benchJSONRow{Workload: r.Spec.ID, Name: r.Spec.Name, Stack: r.Go.Stack, GetKeys: r.Spec.GetKeys, Go: r.Go, Py: r.Py, PyNote: r.PyNote})
	}
	return writeJSON(w, out)
}

// pythonVersion names the Python partd the baseline runs.
func pythonVersion() string {
	out, err := exec.Command(workload.PythonBin, "-c",
		"import partd, platform; print('Python partd %s (Python %s)' % (partd.__version__, platform.python_version()))").Output()
	if err != nil {
		return "Python partd (version unknown)"
	}
	return strings.TrimSpace(string(out))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// benchChild runs one measurement in a child process.
func benchChild(ctx context.Context, stderr io.Writer, p benchPlan, scale float64, seed uint64) (bench.Measurement, error) {
	var m bench.Measurement
	var got bool
	err := runChildren(ctx, stderr, []child{{
		name: fmt.Sprintf("%s on %s", p.spec.ID, p.stack),
		args: []string{benchRunCmd, "--workload", p.spec.ID, "--stack", p.stack,
			"--scale", strconv.FormatFloat(scale, 'g', -1, 64), "--seed", strconv.FormatUint(seed, 10),
			"--get-keys", strconv.Itoa(p.spec.GetKeys)},
	}}, func(_ int, line []byte) error {
		got = true
		return json.Unmarshal(line, &m)
	})
	if err == nil && !got {
		err = fmt.Errorf("%s on %s: no measurement", p.spec.ID, p.stack)
	}
	return m, err
}

// The hidden subcommands behind `partd bench`.
const (
	benchRunCmd      = "bench-run"
	benchW4ClientCmd = "bench-w4-client"
	benchW4ReaderCmd = "bench-w4-reader"
)

// benchChildFlags are the options of the hidden bench subcommands.
type benchChildFlags struct {
	workload string
	stack    string
	scale    float64
	seed     uint64
	addr     string
	getKeys  int
}

// w4Report is what a W4 client or reader process prints.
type w4Report struct {
	Start   int64   `json:"start_ns,omitempty"`
	End     int64   `json:"end_ns,omitempty"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds,omitempty"`
}

func newBenchChildCmds() []*cobra.Command {
	var f benchChildFlags
	spec := func() (workload.Spec, error) {
		s, ok := workload.ByID(f.workload)
		if !ok {
			return s, usageError{fmt.Errorf("unknown workload %q", f.workload)}
		}
		s = s.Scaled(f.scale)
		s.GetKeys = f.getKeys
		return s, nil
	}
	run := &cobra.Command{
		Use: benchRunCmd, Short: "One measurement of partd bench (internal)", Hidden: true, Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := spec()
			if err != nil {
				return err
			}
			var m bench.Measurement
			if f.stack == "server" {
				m, err = runW4(cmd, s, f)
			} else {
				m, err = bench.Run(s, f.stack, f.seed)
			}
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(m)
		},
	}
	// w4 runs one W4 process's part against the server at --addr.
	w4 := func(part func(c *client.Client, s workload.Spec) (w4Report, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			s, err := spec()
			if err != nil {
				return err
			}
			c, err := client.Dial(f.addr, client.WithTimeout(2*time.Minute))
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := part(c, s)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
		}
	}
	cl := &cobra.Command{
		Use: benchW4ClientCmd, Short: "One W4 client of partd bench (internal)", Hidden: true, Args: noArgs,
		RunE: w4(func(c *client.Client, s workload.Spec) (w4Report, error) {
			start, end, n, err := bench.W4Client(c, s, f.seed)
			return w4Report{Start: start.UnixNano(), End: end.UnixNano(), Bytes: n}, err
		}),
	}
	rd := &cobra.Command{
		Use: benchW4ReaderCmd, Short: "The W4 reader of partd bench (internal)", Hidden: true, Args: noArgs,
		RunE: w4(func(c *client.Client, s workload.Spec) (w4Report, error) {
			n, d, err := bench.W4Reader(c, s)
			return w4Report{Bytes: n, Seconds: d.Seconds()}, err
		}),
	}
	for _, c := range []*cobra.Command{run, cl, rd} {
		fl := c.Flags()
		fl.StringVar(&f.workload, "workload", "W1", "workload")
		fl.StringVar(&f.stack, "stack", "file", "stack")
		fl.Float64Var(&f.scale, "scale", 1, "scale")
		fl.Uint64Var(&f.seed, "seed", 1, "seed")
		fl.StringVar(&f.addr, "addr", "", "server address")
		fl.IntVar(&f.getKeys, "get-keys", 0, "keys per Get of the read-back (0: the default batches)")
	}
	return []*cobra.Command{run, cl, rd}
}

// runW4 measures W4 in this process: it serves a Buffer over a Log (as
// partd serve does) on an ipc socket, runs spec.Clients client processes
// that append at once, then one reader process.
func runW4(cmd *cobra.Command, spec workload.Spec, f benchChildFlags) (bench.Measurement, error) {
	m := bench.Measurement{Workload: spec.ID, Stack: "server"}
	tmp, err := os.MkdirTemp("", "partd-bench-w4-*")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmp)
	store, err := newServerStore("log", filepath.Join(tmp, "store"), 1<<30)
	if err != nil {
		return m, err
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(store, "ipc://"+filepath.Join(tmp, "partd.sock"), server.WithLogger(logger))
	if err != nil {
		store.Close()
		return m, err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		srv.Close()
		<-served
	}()
	common := []string{"--workload", spec.ID, "--scale", strconv.FormatFloat(f.scale, 'g', -1, 64), "--addr", srv.Addr()}
	clients := make([]child, max(spec.Clients, 1))
	for i := range clients {
		clients[i] = child{name: fmt.Sprintf("W4 client %d", i),
			args: append([]string{benchW4ClientCmd, "--seed", strconv.FormatUint(f.seed*1000+uint64(i), 10)}, common...)}
	}
	var first, last int64
	err = runChildren(cmd.Context(), cmd.ErrOrStderr(), clients, func(_ int, line []byte) error {
		var r w4Report
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if first == 0 || r.Start < first {
			first = r.Start
		}
		last = max(last, r.End)
		m.AppendBytes += r.Bytes
		return nil
	})
	if err != nil {
		return m, err
	}
	m.AppendMBps = float64(m.AppendBytes) / 1e6 / time.Duration(last-first).Seconds()
	var read w4Report
	err = runChildren(cmd.Context(), cmd.ErrOrStderr(), []child{{name: "W4 reader", args: append([]string{benchW4ReaderCmd}, common...)}},
		func(_ int, line []byte) error { return json.Unmarshal(line, &read) })
	if err != nil {
		return m, err
	}
	if read.Bytes != m.AppendBytes {
		return m, fmt.Errorf("W4: clients appended %d bytes, the reader got %d", m.AppendBytes, read.Bytes)
	}
	m.GetMBps = float64(read.Bytes) / 1e6 / read.Seconds
	if m.DiskBytes, err = bench.DirBytes(filepath.Join(tmp, "store")); err != nil {
		return m, err
	}
	m.PeakRSS = workload.PeakRSS()
	// Nothing to keep: drop, so that shutting down has nothing to flush.
	if c, err := client.Dial(srv.Addr()); err == nil {
		c.Drop()
		c.Close()
	}
	return m, nil
}
