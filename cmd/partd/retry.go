package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
)

// defaultAttempts is how many times a shuffle runs an item (a map task, a
// partition) before it gives up: once, and twice more after its process
// was killed.
const defaultAttempts = 3

// itemPhase is a phase of work split into items (map tasks, partitions),
// run by child processes that may be killed: what a killed child had not
// finished runs again in a new child, as a new attempt.
type itemPhase struct {
	phase, unit string // "map", "rows"
	total       int64  // units in all, for the progress bar
	quiet       bool
	shares      [][]int // the items of each first child; empty shares start no child
	attempts    int     // attempts per item, at least 1
	// child returns the child process that runs items as attempt number
	// attempt, after tries killed attempts at the item of items that was
	// killed most. Attempt numbers are unique within the phase: the first
	// children get 0, 1, …, len(shares)-1, each replacement the next one.
	child func(items []int, attempt, tries int) child
	// report handles one JSON line of the child that runs attempt: it
	// returns the child's progress in units so far, and the items the line
	// reports finished (their results are the caller's to keep: an item is
	// reported finished at most once).
	report func(attempt int, line []byte) (progress int64, done []int, err error)
}

// run runs the phase and returns how long it took and how many items ran
// again after their process was killed. A child that exits with an error
// fails the phase at once, as runChildren does: its error is in its
// stderr, and running it again would not help. A child killed by a signal
// (SIGKILL, the kernel's OOM killer, a crash) has its unfinished items run
// again by a new child, unless one of them has used up its attempts. Once
// the phase fails, the other children are killed.
func (ph itemPhase) run(ctx context.Context, stderr io.Writer) (time.Duration, int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, fmt.Errorf("finding this program to start its workers: %w", err)
	}
	outer := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &phaseRun{ph: ph, exe: exe, ctx: ctx, cancel: cancel, stderr: stderr,
		bar:      newProgress(stderr, ph.phase, ph.unit, ph.total, ph.quiet),
		progress: map[int]int64{}, committed: map[int]int64{}, failures: map[int]int{}, finished: map[int]bool{},
		next: len(ph.shares)}
	start := time.Now()
	r.mu.Lock()
	for i, items := range ph.shares {
		if len(items) > 0 && r.firstErr == nil {
			r.launch(items, i)
		}
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.bar.done()
	if outer.Err() != nil {
		return 0, r.retried, context.Cause(outer)
	}
	if r.firstErr != nil {
		return 0, r.retried, fmt.Errorf("%s phase: %w", ph.phase, r.firstErr)
	}
	return time.Since(start), r.retried, nil
}

// phaseRun is one run of an itemPhase: its children, their progress, and
// what ran again.
type phaseRun struct {
	ph     itemPhase
	exe    string
	ctx    context.Context
	cancel context.CancelFunc
	stderr io.Writer
	bar    *progress
	wg     sync.WaitGroup

	mu        sync.Mutex // guards everything below, serializes report
	firstErr  error
	progress  map[int]int64 // per attempt
	committed map[int]int64 // per attempt: progress at its last finished item
	failures  map[int]int   // per item: attempts killed
	finished  map[int]bool  // items reported finished
	sofar     int64
	next      int // the next attempt number
	retried   int
}

// fail records the phase's first error and kills every child. r.mu is held.
func (r *phaseRun) fail(err error) {
	if r.firstErr == nil {
		r.firstErr = err
	}
	r.cancel()
}

// setProgress sets an attempt's progress and shows the phase's. r.mu is
// held.
func (r *phaseRun) setProgress(attempt int, n int64) {
	r.sofar += n - r.progress[attempt]
	r.progress[attempt] = n
	r.bar.set(r.sofar)
}

// launch starts the child that runs items as attempt number attempt, and
// a goroutine that reads its reports and handles its end. r.mu is held.
func (r *phaseRun) launch(items []int, attempt int) {
	tries := 0
	for _, it := range items {
		tries = max(tries, r.failures[it])
	}
	c := r.ph.child(items, attempt, tries)
	cmd := exec.CommandContext(r.ctx, r.exe, c.args...)
	cmd.Env = c.env
	cmd.Stderr = r.stderr
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", c.name, err))
		return
	}
	r.wg.Go(func() {
		lineErr := scanLines(out, func(line []byte) error { return r.report(c, attempt, line) })
		werr := cmd.Wait()
		r.mu.Lock()
		defer r.mu.Unlock()
		if lineErr == nil { // else failed already
			r.ended(c, items, attempt, werr)
		}
	})
}

// report handles one line of the child c that runs attempt.
func (r *phaseRun) report(c child, attempt int, line []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, done, err := r.ph.report(attempt, line)
	if err != nil {
		r.fail(fmt.Errorf("%s: %w", c.name, err)) // kills the child
		return err
	}
	for _, it := range done {
		r.finished[it] = true
	}
	r.setProgress(attempt, n)
	if len(done) > 0 {
		r.committed[attempt] = n
	}
	return nil
}

// ended handles the end of the child c that ran items as attempt, which
// Wait returned werr for: a child killed by a signal has its unfinished
// items run again, unless one has used up its attempts. r.mu is held.
func (r *phaseRun) ended(c child, items []int, attempt int, werr error) {
	switch {
	case werr == nil || r.ctx.Err() != nil:
		return
	case !killedBySignal(werr):
		r.fail(fmt.Errorf("%s failed: %w", c.name, werr))
		return
	}
	r.setProgress(attempt, r.committed[attempt])
	left := slices.DeleteFunc(slices.Clone(items), func(it int) bool { return r.finished[it] })
	for _, it := range left {
		if r.failures[it]++; r.failures[it] >= r.ph.attempts {
			r.fail(fmt.Errorf("%s failed: %w; %s %d has used its %d attempts (--attempts)", c.name, werr, r.ph.itemName(), it, r.ph.attempts))
			return
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(r.stderr, "partd: %s: %s was killed (%v); running its %d unfinished %ss again\n",
			r.ph.phase, c.name, werr, len(left), r.ph.itemName())
		r.retried += len(left)
		r.launch(left, r.next)
		r.next++
	}
}

// itemName names the phase's items in messages.
func (ph itemPhase) itemName() string {
	if ph.phase == "map" {
		return "task"
	}
	return "partition"
}

// scanLines calls fn with each line of r; after fn's first error it drains
// r, so that the writer does not block on a full pipe, and returns it.
func scanLines(r io.Reader, fn func(line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	var err error
	for sc.Scan() {
		if err == nil {
			err = fn(sc.Bytes())
		}
	}
	return err
}

// killedBySignal reports whether err says a process ended by a signal.
func killedBySignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}
