package dfshuffle

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gopartd/partd"
)

// RunOptions say how Run runs a job in this process.
type RunOptions struct {
	// Workers is how many map tasks run at once; 0 means GOMAXPROCS.
	Workers int
	// Reducers is how many partitions are reduced at once; 0 means Workers.
	Reducers int
	// Progress, if not nil, is told how far the run has come. Calls do not
	// overlap.
	Progress func(Progress)
	// Keep keeps the job's keys in the store after a verified run; by
	// default they are deleted (and always before the run).
	Keep bool
}

// Progress is how far a phase has come: in the map phase, rows appended to
// the store out of the inputs' rows (Total -1 if the inputs do not say, as
// CSV files do not); in the reduce phase, partitions written.
type Progress struct {
	Phase string // "map" or "reduce"
	Done  int64  // rows (map) or partitions (reduce) done so far
	Total int64  // rows (map; -1 if not known) or partitions (reduce) in all
}

// Summary is the outcome of a run.
type Summary struct {
	Plan       *Plan         // the plan that ran
	Total      Stats         // rows and checksum of the whole output
	Mapped     []MapStats    // per map task, by task id
	Reduced    []ReduceStats // per partition
	MapTime    time.Duration // the map phase's wall time
	ReduceTime time.Duration // the reduce phase's wall time
	StoreBytes int64         // bytes appended to the store by the map tasks
	FileBytes  int64         // bytes of the partition files
	Files      int           // partition files written
}

// Run runs job in this process: it plans it, runs the map tasks on
// opts.Workers goroutines and, once all have succeeded, the partitions on
// opts.Reducers goroutines, verifies that every partition holds exactly the
// rows sent to it, and commits the output directory. On any error, nothing
// is written to the output directory. The store's keys under the job's
// prefix are deleted before the run and, unless opts.Keep, after it, failed
// or not.
func Run(ctx context.Context, job Job, store partd.Store, opts RunOptions) (*Summary, error) {
	p, err := NewPlan(ctx, job)
	if err != nil {
		return nil, err
	}
	sum, err := RunPlan(ctx, p, store, opts)
	if err != nil {
		p.Abort()
		if !opts.Keep {
			Cleanup(store, p.Job.Prefix)
		}
		return sum, err
	}
	return sum, nil
}

// RunPlan runs a plan as Run does: map, reduce, verify, commit. The caller
// aborts the plan if it returns an error.
func RunPlan(ctx context.Context, p *Plan, store partd.Store, opts RunOptions) (*Summary, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Reducers <= 0 {
		opts.Reducers = opts.Workers
	}
	var mu sync.Mutex // serializes Progress and guards done
	report := func(phase string, done, total int64) {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: phase, Done: done, Total: total})
		}
	}
	sum := &Summary{Plan: p}
	if _, err := Cleanup(store, p.Job.Prefix); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return sum, err
	}

	start := time.Now()
	sum.Mapped = make([]MapStats, len(p.Tasks))
	order := make([]int, len(p.Tasks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(taskWeight(p, b), taskWeight(p, a)) })
	total := p.Rows()
	taskRows := make([]int64, len(p.Tasks))
	var mapped int64
	err := pool(ctx, opts.Workers, order, func(ctx context.Context, t int) error {
		s, err := RunMapTask(ctx, p, t, store, func(rows int64) {
			mu.Lock()
			mapped += rows - taskRows[t]
			taskRows[t] = rows
			report("map", mapped, total)
			mu.Unlock()
		})
		sum.Mapped[t] = s
		return err
	})
	if err != nil {
		return sum, err
	}
	sum.MapTime = time.Since(start)
	for _, m := range sum.Mapped {
		sum.StoreBytes += m.Bytes
	}

	start = time.Now()
	n := p.Job.Partitions
	sum.Reduced = make([]ReduceStats, n)
	parts := make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	var reduced int64
	err = pool(ctx, opts.Reducers, parts, func(ctx context.Context, q int) error {
		s, err := RunReduce(ctx, p, q, store)
		sum.Reduced[q] = s
		mu.Lock()
		reduced++
		report("reduce", reduced, int64(n))
		mu.Unlock()
		return err
	})
	if err != nil {
		return sum, err
	}
	sum.ReduceTime = time.Since(start)
	for _, r := range sum.Reduced {
		sum.FileBytes += r.FileBytes
		sum.Files += len(r.Files)
	}
	if sum.Total, err = Verify(p, sum.Mapped, sum.Reduced); err != nil {
		return sum, err
	}
	if err := p.Commit(); err != nil {
		return sum, err
	}
	if !opts.Keep {
		if _, err := Cleanup(store, p.Job.Prefix); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			return sum, err
		}
	}
	return sum, nil
}

// pool runs fn on every item with up to n goroutines; the first error
// cancels the rest and is returned.
func pool(ctx context.Context, n int, items []int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for it := range work {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		work <- it
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// taskWeight estimates the bytes of input a task reads.
func taskWeight(p *Plan, t int) int64 {
	task := p.Tasks[t]
	f := p.Files[task.File]
	if task.Count == 0 || f.Parts == 0 {
		return f.Size
	}
	return f.Size * int64(task.Count) / int64(f.Parts)
}

// AssignTasks splits the plan's tasks among workers processes, each task
// to the worker with the least input so far, largest tasks first. The
// result has one list of task ids per worker.
func AssignTasks(p *Plan, workers int) [][]int {
	out := make([][]int, max(workers, 1))
	load := make([]int64, len(out))
	order := make([]int, len(p.Tasks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(taskWeight(p, b), taskWeight(p, a)) })
	for _, t := range order {
		w := 0
		for i := range load {
			if load[i] < load[w] {
				w = i
			}
		}
		out[w] = append(out[w], t)
		load[w] += taskWeight(p, t)
	}
	for _, ts := range out {
		slices.Sort(ts)
	}
	return out
}

// AssignPartitions splits partitions among reducers processes: reducer r
// gets r, r+reducers, r+2·reducers, …
func AssignPartitions(partitions, reducers int) [][]int {
	out := make([][]int, max(reducers, 1))
	for q := range partitions {
		out[q%len(out)] = append(out[q%len(out)], q)
	}
	return out
}

// Message is one JSON line that a map or reduce worker process writes to
// its standard output for the process that started it, as
// cmd/partd/internal/shuffle's workers do.
type Message struct {
	// Progress is the rows appended (map) or partitions written (reduce)
	// so far.
	Progress int64 `json:"progress,omitempty"`
	// Done marks the last message, which carries the results below.
	Done bool `json:"done,omitempty"`
	// Mapped are a map worker's task stats.
	Mapped []MapStats `json:"mapped,omitempty"`
	// Reduced are a reduce worker's partition stats.
	Reduced []ReduceStats `json:"reduced,omitempty"`
	// PeakRSS is the process's peak resident set size in bytes (VmHWM).
	PeakRSS int64 `json:"peak_rss,omitempty"`
}
