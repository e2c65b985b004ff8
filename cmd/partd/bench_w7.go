package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd/cmd/partd/internal/bench"
)

// w7Run is one stack's W7 figures: medians over the runs.
type w7Run struct {
	Stack   string  `json:"stack"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	PeakRSS int64   `json:"peak_rss"` // the largest process's
	Runs    int     `json:"runs"`
}

// w7Stacks are the ways W7 runs partd: `partd shuffle --input` as a user
// runs it, and the same with the memory limit that makes it spill.
var w7Stacks = []struct {
	name string
	args []string
}{
	{"partd shuffle", nil},
	{"partd shuffle --memory 64MiB", []string{"--memory", "64MiB"}},
}

// splitW7 takes W7 out of the workload list: it runs apart from W1–W6,
// as whole shuffles timed from outside.
func (f benchFlags) splitW7() (benchFlags, bool) {
	w7 := false
	f.workloads = slices.DeleteFunc(slices.Clone(f.workloads), func(id string) bool {
		if strings.EqualFold(strings.TrimSpace(id), "W7") {
			w7 = true
			return true
		}
		return false
	})
	return f, w7
}

// runBenchW7 runs W7 (WORKLOADS.md): the rows of 4 Parquet files shuffled
// by key into 64 Parquet partitions by `partd shuffle --input`, run as a
// child process and timed from outside, f.runs times per stack; with
// --python, Dask's disk shuffle of the same number of rows beside it.
func runBenchW7(cmd *cobra.Command, f benchFlags) error {
	ctx, stderr := cmd.Context(), cmd.ErrOrStderr()
	rows := max(int(float64(bench.W7Rows)*f.scale), 1000)
	fmt.Fprintf(stderr, "partd: bench: W7: making the inputs (%d rows, cached under %s)\n", rows, os.TempDir())
	inputs, err := bench.W7Inputs(rows)
	if err != nil {
		return err
	}
	var results []w7Run
	for _, st := range w7Stacks {
		res := w7Run{Stack: st.name, Rows: int64(rows), Runs: f.runs}
		var secs []float64
		var rss []int64
		for r := range f.runs {
			fmt.Fprintf(stderr, "partd: bench: W7 on %s, run %d of %d\n", st.name, r+1, f.runs)
			s, peak, err := runW7Shuffle(ctx, inputs, rows, st.args)
			if err != nil {
				return err
			}
			secs, rss = append(secs, s), append(rss, peak)
		}
		res.Seconds, res.PeakRSS = median(secs), median(rss)
		results = append(results, res)
	}
	if f.python {
		res := w7Run{Stack: "Dask 2022.12 disk shuffle (Python partd)", Rows: int64(rows), Runs: f.runs}
		var secs []float64
		var rss []int64
		for r := range f.runs {
			fmt.Fprintf(stderr, "partd: bench: W7 on Dask, run %d of %d\n", r+1, f.runs)
			d, err := bench.RunDaskW7(rows)
			if err != nil {
				return err
			}
			secs, rss = append(secs, d.Seconds), append(rss, d.PeakRSS)
		}
		res.Seconds, res.PeakRSS = median(secs), median(rss)
		results = append(results, res)
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	writeW7Table(cmd.OutOrStdout(), results)
	return nil
}

// runW7Shuffle runs one `partd shuffle --input` of W7's inputs and returns
// its wall time, seen from outside, and its largest process's peak RSS.
func runW7Shuffle(ctx context.Context, inputs []string, rows int, extra []string) (float64, int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	tmp, err := os.MkdirTemp("", "partd-bench-w7-*")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"shuffle", "--by", "key", "--partitions", fmt.Sprint(bench.W7Partitions),
		"--output", filepath.Join(tmp, "out"), "--json", "--quiet"}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	c := exec.CommandContext(ctx, exe, append(args, extra...)...)
	c.Env = append(os.Environ(), "TMPDIR="+tmp) // the embedded store's directory goes with the run
	var stderr strings.Builder
	c.Stderr = &stderr
	start := time.Now()
	out, err := c.Output()
	secs := time.Since(start).Seconds()
	var sum inputSummary
	if jerr := json.Unmarshal(out, &sum); err != nil || jerr != nil {
		return 0, 0, fmt.Errorf("bench: W7: partd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if !sum.Verified || sum.Rows != int64(rows) {
		return 0, 0, fmt.Errorf("bench: W7: the shuffle verified %v with %d rows, want %d: %s", sum.Verified, sum.Rows, rows, sum.Error)
	}
	return secs, max(sum.ServerRSS, sum.WorkerRSS, sum.ReducerRSS), nil
}

// writeW7Table prints W7's figures with each stack's speed against the
// first (partd shuffle as a user runs it).
func writeW7Table(w io.Writer, results []w7Run) {
	fmt.Fprintf(w, "W7 dataframe-shuffle: %d rows of 8 columns in 4 Parquet files, by key into %d Parquet partitions; medians of %d runs\n\n",
		results[0].Rows, bench.W7Partitions, results[0].Runs)
	fmt.Fprintln(w, "| stack | seconds | rows/s | largest process peak RSS | speed vs partd shuffle |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %.2f | %s | %s | %.2f× |\n", r.Stack, r.Seconds,
			groupDigits(uint64(float64(r.Rows)/max(r.Seconds, 1e-9))), formatBytes(r.PeakRSS), results[0].Seconds/max(r.Seconds, 1e-9))
	}
}

// median returns the middle value of xs (the lower of the two middle ones
// for an even count).
func median[T int64 | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}
