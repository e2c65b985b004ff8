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
	bar := newProgress(stderr, ph.phase, ph.unit, ph.total, ph.quiet)
	start := time.Now()

	var (
		mu        sync.Mutex // guards everything below, serializes report
		firstErr  error
		wg        sync.WaitGroup
		progress  = map[int]int64{} // per attempt
		committed = map[int]int64{} // per attempt: progress at its last finished item
		failures  = map[int]int{}   // per item: attempts killed
		finished  = map[int]bool{}  // items reported finished
		sofar     int64
		next      = len(ph.shares) // the next attempt number
		retried   int
	)
	fail := func(err error) { // mu held
		if firstErr == nil {
			firstErr = err
		}
		cancel()
	}
	setProgress := func(attempt int, n int64) { // mu held
		sofar += n - progress[attempt]
		progress[attempt] = n
		bar.set(sofar)
	}
	var launch func(items []int, attempt int)
	launch = func(items []int, attempt int) { // mu held
		tries := 0
		for _, it := range items {
			tries = max(tries, failures[it])
		}
		c := ph.child(items, attempt, tries)
		cmd := exec.CommandContext(ctx, exe, c.args...)
		cmd.Env = c.env
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			fail(fmt.Errorf("%s: %w", c.name, err))
			return
		}
		wg.Go(func() {
			lineErr := scanLines(out, func(line []byte) error {
				mu.Lock()
				defer mu.Unlock()
				n, done, err := ph.report(attempt, line)
				if err != nil {
					fail(fmt.Errorf("%s: %w", c.name, err)) // kills the child
					return err
				}
				for _, it := range done {
					finished[it] = true
				}
				setProgress(attempt, n)
				if len(done) > 0 {
					committed[attempt] = n
				}
				return nil
			})
			werr := cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case lineErr != nil: // failed already
			case werr == nil || ctx.Err() != nil:
			case !killedBySignal(werr):
				fail(fmt.Errorf("%s failed: %w", c.name, werr))
			default:
				setProgress(attempt, committed[attempt])
				left := slices.DeleteFunc(slices.Clone(items), func(it int) bool { return finished[it] })
				for _, it := range left {
					if failures[it]++; failures[it] >= ph.attempts {
						fail(fmt.Errorf("%s failed: %w; %s %d has used its %d attempts (--attempts)", c.name, werr, ph.itemName(), it, ph.attempts))
						return
					}
				}
				if len(left) > 0 {
					fmt.Fprintf(stderr, "partd: %s: %s was killed (%v); running its %d unfinished %ss again\n",
						ph.phase, c.name, werr, len(left), ph.itemName())
					retried += len(left)
					launch(left, next)
					next++
				}
			}
		})
	}
	mu.Lock()
	for i, items := range ph.shares {
		if len(items) > 0 && firstErr == nil {
			launch(items, i)
		}
	}
	mu.Unlock()
	wg.Wait()
	bar.done()
	if outer.Err() != nil {
		return 0, retried, context.Cause(outer)
	}
	if firstErr != nil {
		return 0, retried, fmt.Errorf("%s phase: %w", ph.phase, firstErr)
	}
	return time.Since(start), retried, nil
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
