// Command partd is the command line of partd for Go: serve a store over
// ZeroMQ, and more subcommands. Exit status: 0 success, 1 error, 2 usage,
// 128+N when stopped by signal N (130 for SIGINT, 143 for SIGTERM).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	// The store URI schemes of package storeuri that other packages
	// implement, registered by them (as database/sql drivers are).
	_ "github.com/gopartd/partd/client"     // tcp://, ipc://
	_ "github.com/gopartd/partd/redisstore" // redis://, redis-cluster://
)

func main() {
	ctx, stop := signalContext()
	code := execute(ctx, newRootCmd())
	stop()
	os.Exit(code)
}

// newRootCmd builds the partd command and its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "partd",
		Short:         "A concurrent, appendable key-value byte store for shuffles and spills",
		Version:       buildVersion().line(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd())
	root.AddCommand(newShuffleCmd())
	root.AddCommand(newExportCmd())
	root.AddCommand(newShuffleChildCmds()...)
	root.AddCommand(newShuffleInputChildCmds()...)
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchChildCmds()...)
	root.AddCommand(newAppendCmd(), newGetCmd(), newKeysCmd(), newDeleteCmd(), newDropCmd(), newStatCmd(), newRepairCmd())
	root.AddCommand(newVersionCmd())
	return root
}

// usageError marks a command-line mistake (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitError ends the command with status code without a message of its
// own: the command has already said what went wrong (get's "no such key"
// lines, repair --dry-run's report).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// interrupted is the cause of the command's context when a signal stops it.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string {
	if e.sig == nil {
		return "interrupted"
	}
	switch e.sig {
	case os.Interrupt:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "interrupted (SIGTERM)"
	}
	return "interrupted (" + e.sig.String() + ")"
}

// code is the conventional exit status of a process a signal stopped:
// 128 plus the signal's number.
func (e interrupted) code() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// signalContext returns the context of the whole command: cancelled, with
// an interrupted cause, on the first SIGINT or SIGTERM. After that first
// signal the default behaviour is back, so a second one kills the process
// at once. (signal.NotifyContext would do, but its cause does not tell
// SIGINT from SIGTERM, whose exit statuses differ.)
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			signal.Stop(ch)
			cancel(interrupted{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}

// stopGrace is how long a command has, after the first signal, to wind up
// on its own (close its store, stop its children) before partd exits
// anyway. A command that waits for something it cannot interrupt (a
// client call under way, stdin) is left behind.
const stopGrace = 800 * time.Millisecond

// finishOnSignal is the annotation of commands that stop by themselves on a
// signal however long that takes (serve: its shutdown flushes the store)
// and whose own result is the exit status.
const finishOnSignal = "partd/finish-on-signal"

// execute runs root with ctx, the context signalContext returns, and
// returns the exit status.
func execute(ctx context.Context, root *cobra.Command) int {
	ownStop, usage := false, root.CommandPath()
	if cmd, _, err := root.Find(os.Args[1:]); err == nil {
		_, ownStop = cmd.Annotations[finishOnSignal]
		usage = cmd.CommandPath() // "partd get": usage errors point at its help
	}
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		if ownStop {
			err = <-done
			break
		}
		select {
		case err = <-done:
		case <-time.After(stopGrace):
		}
	}
	var intr interrupted
	if !ownStop && errors.As(context.Cause(ctx), &intr) || errors.As(err, &intr) {
		// Whatever the command returned, or would have, the signal stopped
		// it: even one that finished may have worked on input the signal
		// cut short (the end of a pipe whose writer it killed).
		fmt.Fprintln(os.Stderr, "partd:", intr)
		return intr.code()
	}
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(os.Stderr, message(err))
	var ue usageError
	// cobra reports unknown commands and wrong argument counts as plain errors.
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.HasPrefix(err.Error(), "accepts ") || strings.HasPrefix(err.Error(), "requires ") {
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", usage)
		return 2
	}
	return 1
}

// message is the line that reports err: prefixed "partd: " once, since the
// module's own errors start with "partd: " (or "partd/client: ") already.
func message(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "partd: ") || strings.HasPrefix(msg, "partd/") {
		return msg
	}
	return "partd: " + msg
}
