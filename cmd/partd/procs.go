package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// child is one process of this binary that a command starts, such as a
// shuffle mapper: it runs `partd ARGS...` (a hidden subcommand).
type child struct {
	name string // for messages: "worker 2"
	args []string
	env  []string // its environment (NAME=VALUE); nil: this process's
}

// runChildren starts every child at once and waits for all of them. Each line
// a child writes to stdout is passed to onLine (calls never overlap); its
// stderr goes to stderr. If a child fails, or onLine returns an error, the
// others are killed and the first error is returned.
//
// A child's peak memory is not taken from getrusage: the maxrss of a child
// started by a Go program counts the parent's resident set at the fork (the
// child shares the parent's memory until it executes), so children report
// their own VmHWM.
func runChildren(ctx context.Context, stderr io.Writer, children []child, onLine func(i int, line []byte) error) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program to start its workers: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // serializes onLine and guards firstErr
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for i, c := range children {
		cmd := exec.CommandContext(ctx, exe, c.args...)
		cmd.Env = c.env
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fail(err)
			break
		}
		if err := cmd.Start(); err != nil {
			fail(fmt.Errorf("%s: %w", c.name, err))
			break
		}
		wg.Go(func() {
			scanLines(out, func(line []byte) error {
				mu.Lock()
				err := onLine(i, line)
				mu.Unlock()
				if err != nil {
					fail(fmt.Errorf("%s: %w", c.name, err)) // kills the child
				}
				return err
			})
			err := cmd.Wait()
			if err != nil && ctx.Err() == nil {
				fail(fmt.Errorf("%s failed: %w", c.name, err))
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// progress shows how far a long phase has come on stderr: a progress bar
// when stderr is a terminal, a plain line every few seconds otherwise.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	what  string
	unit  string
	total int64
	start time.Time
	last  time.Time
	quiet bool
}

// newProgress starts showing a phase of total units. With quiet, it shows
// nothing.
func newProgress(stderr io.Writer, what, unit string, total int64, quiet bool) *progress {
	p := &progress{w: stderr, what: what, unit: unit, total: total, start: time.Now(), quiet: quiet}
	p.last = p.start
	if f, ok := stderr.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("%-6s", what)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowIts(),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// set reports n units done.
func (p *progress) set(n int64) {
	if p.quiet {
		return
	}
	if p.bar != nil {
		p.bar.Set64(n)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 2*time.Second && n < p.total {
		p.last = now
		fmt.Fprintf(p.w, "partd: %s: %d/%d %s (%.0f%%) after %.1fs\n", p.what, n, p.total, p.unit,
			100*float64(n)/float64(max(p.total, 1)), now.Sub(p.start).Seconds())
	}
}

// done ends the display.
func (p *progress) done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Exit()
	}
}
