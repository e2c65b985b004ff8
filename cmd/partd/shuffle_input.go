package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/cmd/partd/internal/dfshuffle"
	"github.com/gopartd/partd/internal/workload"
)

// addInputFlags registers the flags of a shuffle of the user's files.
func addInputFlags(cmd *cobra.Command, f *shuffleFlags) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.inputs, "input", nil, "an input: a Parquet, CSV or Arrow IPC file, a directory of them, or a glob (repeatable)")
	fl.StringVar(&f.inputFormat, "input-format", "", "parquet, csv or arrow for every input (default: by extension)")
	fl.StringVar(&f.by, "by", "", "with --input: the columns whose values pick a row's partition, COL[,COL]")
	fl.StringVar(&f.output, "output", "", "with --input: the directory the partition files go to (empty or new, unless --overwrite)")
	fl.StringVar(&f.outputFormat, "output-format", "parquet", "with --input: parquet, arrow or csv")
	fl.BoolVar(&f.overwrite, "overwrite", false, "with --input: replace what --output holds once the new partitions are complete")
	fl.IntVar(&f.attempts, "attempts", defaultAttempts, "times a map task, a worker or a partition runs before the shuffle gives up, when its process is killed")
}

// inputOnly are the flags that mean something only with --input, and
// synthOnly those that mean something only without.
var (
	inputOnly = []string{"input-format", "by", "output", "output-format", "overwrite"}
	synthOnly = []string{"rows", "seed", "format", "compress", "corrupt-partition"}
)

// noInputFlags refuses the flags of --input in a synthetic run.
func noInputFlags(cmd *cobra.Command) error {
	for _, n := range inputOnly {
		if cmd.Flags().Changed(n) {
			return usageError{fmt.Errorf("--%s goes with --input", n)}
		}
	}
	return nil
}

// inputSummary is the result of a shuffle of the user's files.
type inputSummary struct {
	Verified     bool     `json:"verified"`
	Error        string   `json:"error,omitempty"`
	Inputs       int      `json:"input_files"`
	By           []string `json:"by"`
	Workers      int      `json:"workers"`
	Reducers     int      `json:"reducers"`
	Partitions   int      `json:"partitions"`
	Output       string   `json:"output"`
	OutputFormat string   `json:"output_format"`
	Files        int      `json:"output_files"`
	Store        string   `json:"store"`
	Rows         int64    `json:"rows"`
	Checksum     string   `json:"checksum"`
	StoreBytes   int64    `json:"store_bytes"`
	FileBytes    int64    `json:"output_bytes"`
	MapSeconds   float64  `json:"map_seconds"`
	RedSeconds   float64  `json:"reduce_seconds"`
	WallSeconds  float64  `json:"wall_seconds"`
	ServerRSS    int64    `json:"server_peak_rss,omitempty"`
	WorkerRSS    int64    `json:"worker_peak_rss"`
	ReducerRSS   int64    `json:"reducer_peak_rss"`
	// RetriedTasks and RetriedPartitions count the map tasks and the
	// partitions run again after their process was killed.
	RetriedTasks      int `json:"retried_tasks"`
	RetriedPartitions int `json:"retried_partitions"`
}

// runInputShuffle shuffles the user's files (--input): it plans the job
// (schemas, columns and the output directory are checked before anything
// runs), runs the map processes, then the reduce processes, verifies rows
// and checksums, and puts the partition files in place.
func runInputShuffle(cmd *cobra.Command, f shuffleFlags) (err error) {
	start := time.Now()
	memory, err := f.checkInput(cmd)
	if err != nil {
		return err
	}
	stdout, stderr, ctx := cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.Context()
	job := dfshuffle.Job{Inputs: f.inputs, InputFormat: f.inputFormat, By: strings.Split(f.by, ","),
		Partitions: f.partitions, Output: f.output, OutputFormat: f.outputFormat, Overwrite: f.overwrite}
	plan, err := dfshuffle.NewPlan(ctx, job)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			plan.Abort()
		}
	}()
	planPath, err := plan.Save()
	if err != nil {
		return err
	}

	t, stop, err := shuffleStore(stderr, f, memory)
	if err != nil {
		return err
	}
	defer stop()
	raw, err := t.openRaw(ctx)
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := dfshuffle.Cleanup(raw, plan.Job.Prefix); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("deleting the keys of an earlier shuffle: %w", err)
	}

	sum := inputSummary{Inputs: len(plan.Files), By: plan.Job.By, Workers: f.workers, Reducers: f.reducers,
		Partitions: f.partitions, Output: plan.Job.Output, OutputFormat: plan.Job.OutputFormat, Store: t.desc}
	targetArgs, env := t.childArgs(f.timeout)

	// Map, then reduce what the committed attempts wrote.
	mapped, err := mapInput(ctx, stderr, f, plan, planPath, targetArgs, env, &sum)
	if err != nil {
		return err
	}
	reduced, err := reduceInput(ctx, stderr, f, plan, planPath, targetArgs, env, &sum)
	if err != nil {
		return err
	}

	return finishInput(stdout, f, t, raw, plan, mapped, reduced, &sum, start)
}

// finishInput verifies what the phases reported, puts the partition files
// in place if they agree, deletes the shuffled keys unless --keep, and
// prints the summary. It returns the verification's error, if any.
func finishInput(stdout io.Writer, f shuffleFlags, t *shuffleTarget, raw partd.Store, plan *dfshuffle.Plan,
	mapped map[int]dfshuffle.MapStats, reduced map[int]dfshuffle.ReduceStats, sum *inputSummary, start time.Time) error {
	total, verr := dfshuffle.Verify(plan, slices.Collect(maps.Values(mapped)), slices.Collect(maps.Values(reduced)))
	sum.Verified = verr == nil
	sum.Rows, sum.Checksum = total.Rows, fmt.Sprintf("%016x", total.Checksum())
	if verr == nil {
		verr = plan.Commit()
	}
	if verr == nil && !f.keep {
		if _, err := dfshuffle.Cleanup(raw, plan.Job.Prefix); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			verr = fmt.Errorf("deleting the shuffled keys: %w", err)
		}
	}
	if verr != nil {
		sum.Verified, sum.Error = false, verr.Error()
	}
	if t.embedded {
		sum.ServerRSS = workload.PeakRSS()
	}
	sum.WallSeconds = time.Since(start).Seconds()
	if f.json {
		if err := writeJSON(stdout, sum); err != nil {
			return err
		}
	} else {
		printInputSummary(stdout, *sum)
	}
	return verr
}

// checkInput checks the flags of a shuffle of the user's files, setting
// --workers to one per CPU unless given, and returns --memory's bytes.
func (f *shuffleFlags) checkInput(cmd *cobra.Command) (int64, error) {
	for _, n := range synthOnly {
		if cmd.Flags().Changed(n) {
			return 0, usageError{fmt.Errorf("--%s goes with a synthetic run, not with --input", n)}
		}
	}
	if !cmd.Flags().Changed("workers") {
		// One map process per CPU: reading and encoding Parquet keeps a
		// core busy, and more processes than cores only take turns (W7:
		// 2 workers on 2 cores 9.6 s, 4 workers 11.3 s).
		f.workers = runtime.NumCPU()
	}
	_, _, memory, err := f.parse()
	if err != nil {
		return 0, err
	}
	switch {
	case f.by == "":
		return 0, usageError{errors.New("--input needs --by COL[,COL]: the columns that pick a row's partition")}
	case f.output == "":
		return 0, usageError{errors.New("--input needs --output DIR: where the partition files go")}
	}
	return memory, nil
}

// mapInput runs the map phase of a shuffle of the user's files: worker
// processes, a killed one's unfinished tasks run again as new attempts.
// It returns the first attempt of each task to finish, and saves which
// they are (plan.Committed) for the reducers.
func mapInput(ctx context.Context, stderr io.Writer, f shuffleFlags, plan *dfshuffle.Plan, planPath string, targetArgs, env []string, sum *inputSummary) (map[int]dfshuffle.MapStats, error) {
	mapped := map[int]dfshuffle.MapStats{} // by task: the first attempt to finish
	mapPhase := itemPhase{phase: "map", unit: "rows", total: max(plan.Rows(), 0), quiet: f.quiet,
		shares: dfshuffle.AssignTasks(plan, f.workers), attempts: f.attempts,
		child: func(tasks []int, attempt, _ int) child {
			return child{name: fmt.Sprintf("worker %d", attempt), env: env,
				args: append([]string{shuffleInputMapCmd, "--plan", planPath, "--items", joinInts(tasks),
					"--attempt", strconv.Itoa(attempt)}, targetArgs...)}
		},
		report: func(attempt int, line []byte) (int64, []int, error) {
			m, err := decodeReport[dfshuffle.Message](line)
			if err != nil {
				return 0, nil, err
			}
			var done []int
			for _, s := range m.Mapped {
				if _, ok := mapped[s.Task]; !ok && s.Attempt == attempt {
					mapped[s.Task] = s
					done = append(done, s.Task)
				}
			}
			sum.WorkerRSS = max(sum.WorkerRSS, m.PeakRSS)
			return m.Progress, done, nil
		}}
	took, retried, err := mapPhase.run(ctx, stderr)
	sum.RetriedTasks = retried
	if err != nil {
		return nil, err
	}
	sum.MapSeconds = took.Seconds()
	plan.Committed = make(map[int]int, len(mapped))
	for t, m := range mapped {
		sum.StoreBytes += m.Bytes
		plan.Committed[t] = m.Attempt
	}
	return mapped, nil

}

// reduceInput runs the reduce phase: reducer processes that read the
// committed attempts' keys of their partitions (plan.Committed, saved for
// them here) and write the partition files; a killed one's unfinished
// partitions run again.
func reduceInput(ctx context.Context, stderr io.Writer, f shuffleFlags, plan *dfshuffle.Plan, planPath string, targetArgs, env []string, sum *inputSummary) (map[int]dfshuffle.ReduceStats, error) {
	committedPath, err := plan.SaveCommitted()
	if err != nil {
		return nil, err
	}
	reduced := map[int]dfshuffle.ReduceStats{} // by partition
	redPhase := itemPhase{phase: "reduce", unit: "partitions", total: int64(f.partitions), quiet: f.quiet,
		shares: dfshuffle.AssignPartitions(f.partitions, f.reducers), attempts: f.attempts,
		child: func(parts []int, attempt, _ int) child {
			return child{name: fmt.Sprintf("reducer %d", attempt), env: env,
				args: append([]string{shuffleInputReduceCmd, "--plan", planPath, "--items", joinInts(parts),
					"--committed", committedPath}, targetArgs...)}
		},
		report: func(attempt int, line []byte) (int64, []int, error) {
			m, err := decodeReport[dfshuffle.Message](line)
			if err != nil {
				return 0, nil, err
			}
			var done []int
			for _, r := range m.Reduced {
				if _, ok := reduced[r.Partition]; !ok {
					reduced[r.Partition] = r
					done = append(done, r.Partition)
				}
			}
			sum.ReducerRSS = max(sum.ReducerRSS, m.PeakRSS)
			return m.Progress, done, nil
		}}
	took, retried, err := redPhase.run(ctx, stderr)
	sum.RetriedPartitions = retried
	if err != nil {
		return nil, err
	}
	sum.RedSeconds = took.Seconds()
	for _, r := range reduced {
		sum.FileBytes += r.FileBytes
		sum.Files += len(r.Files)
	}

	return reduced, nil
}

// decodeReport decodes a line a map or reduce process wrote (a
// dfshuffle.Message or a shuffle.Message).
func decodeReport[M any](line []byte) (M, error) {
	var m M
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("unreadable report %q: %w", line, err)
	}
	return m, nil
}

func printInputSummary(w io.Writer, s inputSummary) {
	fmt.Fprintf(w, "partd shuffle: %d input files by %s -> %d partitions (%d %s files in %s), %d workers, %d reducers, %s\n",
		s.Inputs, strings.Join(s.By, ","), s.Partitions, s.Files, s.OutputFormat, s.Output, s.Workers, s.Reducers, s.Store)
	fmt.Fprintf(w, "  map     %12s rows  %10s to the store  in %6.2fs\n", groupDigits(uint64(s.Rows)), formatBytes(s.StoreBytes), s.MapSeconds)
	fmt.Fprintf(w, "  reduce  %12s rows  %10s of files     in %6.2fs\n", groupDigits(uint64(s.Rows)), formatBytes(s.FileBytes), s.RedSeconds)
	printPeaks(w, s.ServerRSS, "worker "+formatBytes(s.WorkerRSS), "reducer "+formatBytes(s.ReducerRSS))
	if s.RetriedTasks+s.RetriedPartitions > 0 {
		fmt.Fprintf(w, "  run again after their process was killed: %d map tasks, %d partitions\n", s.RetriedTasks, s.RetriedPartitions)
	}
	if s.Verified {
		fmt.Fprintf(w, "  verified: %s rows in = rows out, checksum %s; %.2fs in all\n", groupDigits(uint64(s.Rows)), s.Checksum, s.WallSeconds)
	} else {
		fmt.Fprintf(w, "  FAILED: %s\n", s.Error)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, usageError{fmt.Errorf("--items: %q is not a list of numbers", s)}
		}
		out = append(out, n)
	}
	return out, nil
}

// The hidden subcommands that run the processes of a shuffle of the user's
// files.
const (
	shuffleInputMapCmd    = "shuffle-input-map"
	shuffleInputReduceCmd = "shuffle-input-reduce"
)

func newShuffleInputChildCmds() []*cobra.Command {
	var (
		t         = target{compress: "none"}
		plan      string
		items     string
		attempt   int
		committed string
	)
	run := func(cmd *cobra.Command, work func(p *dfshuffle.Plan, items []int, enc *json.Encoder, t *target) (dfshuffle.Message, error)) error {
		if err := t.check(); err != nil {
			return err
		}
		ids, err := parseInts(items)
		if err != nil {
			return err
		}
		p, err := dfshuffle.ReadPlan(plan)
		if err != nil {
			return err
		}
		p.Attempt = attempt
		if committed != "" {
			if err := p.ReadCommitted(committed); err != nil {
				return err
			}
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		m, err := work(p, ids, enc, &t)
		if err != nil {
			return err
		}
		m.Done, m.PeakRSS = true, workload.PeakRSS()
		return enc.Encode(m)
	}
	mapCmd := &cobra.Command{
		Use:    shuffleInputMapCmd,
		Short:  "One map process of partd shuffle --input (internal)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(p *dfshuffle.Plan, tasks []int, enc *json.Encoder, t *target) (dfshuffle.Message, error) {
				// A report after each task: the parent keeps the tasks a
				// killed worker finished.
				var m dfshuffle.Message
				err := t.use(cmd.Context(), true, func(s partd.Store) error {
					for _, task := range tasks {
						base := m.Progress
						st, err := dfshuffle.MapTasks(cmd.Context(), p, []int{task}, s, func(rows int64) {
							enc.Encode(dfshuffle.Message{Progress: base + rows})
						})
						if err != nil {
							return err
						}
						m.Progress = base + st[0].Rows
						if err := enc.Encode(dfshuffle.Message{Progress: m.Progress, Mapped: st}); err != nil {
							return err
						}
					}
					return nil
				})
				return m, err
			})
		},
	}
	redCmd := &cobra.Command{
		Use:    shuffleInputReduceCmd,
		Short:  "One reduce process of partd shuffle --input (internal)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd, func(p *dfshuffle.Plan, parts []int, enc *json.Encoder, t *target) (dfshuffle.Message, error) {
				// A report after each partition, as for map tasks.
				var m dfshuffle.Message
				err := t.use(cmd.Context(), true, func(s partd.Store) error {
					for i, part := range parts {
						rs, err := dfshuffle.ReduceParts(cmd.Context(), p, []int{part}, s, nil)
						if err != nil {
							return err
						}
						m.Progress = int64(i + 1)
						if err := enc.Encode(dfshuffle.Message{Progress: m.Progress, Reduced: rs}); err != nil {
							return err
						}
					}
					return nil
				})
				return m, err
			})
		},
	}
	for _, c := range []*cobra.Command{mapCmd, redCmd} {
		fl := c.Flags()
		fl.StringVar(&t.addr, "addr", "", "server address")
		fl.StringVar(&t.dir, "dir", "", "File store directory")
		fl.StringVar(&t.store, "store", "", "store URI")
		fl.DurationVar(&t.timeout, "timeout", client.DefaultTimeout, "server answer timeout")
		fl.StringVar(&plan, "plan", "", "the plan file")
		fl.StringVar(&items, "items", "", "the tasks (map) or partitions (reduce) to run, N[,N]")
	}
	mapCmd.Flags().IntVar(&attempt, "attempt", 0, "the attempt number the keys written carry")
	redCmd.Flags().StringVar(&committed, "committed", "", "the file of the committed map attempts")
	return []*cobra.Command{mapCmd, redCmd}
}
