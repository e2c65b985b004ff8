// Command partd is the command line of partd for Go: serve a store over
// ZeroMQ, and more subcommands. Exit status: 0 success, 1 error, 2 usage.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(execute(newRootCmd()))
}

// newRootCmd builds the partd command and its subcommands.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "partd",
		Short:         "A concurrent, appendable key-value byte store for shuffles and spills",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd())
	root.AddCommand(newShuffleCmd())
	root.AddCommand(newShuffleChildCmds()...)
	root.AddCommand(newBenchCmd())
	root.AddCommand(newBenchChildCmds()...)
	root.AddCommand(newAppendCmd(), newGetCmd(), newKeysCmd(), newDeleteCmd(), newDropCmd(), newStatCmd(), newRepairCmd())
	return root
}

// usageError marks a command-line mistake (exit status 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// execute runs root and returns the exit status.
func execute(root *cobra.Command) int {
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "partd:", err)
	var ue usageError
	// cobra reports unknown commands and wrong argument counts as plain errors.
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.HasPrefix(err.Error(), "accepts ") || strings.HasPrefix(err.Error(), "requires ") {
		fmt.Fprintln(os.Stderr, "Run 'partd --help' for usage.")
		return 2
	}
	return 1
}
