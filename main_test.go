package partd_test

import (
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/partdtest"
)

// TestMain runs the tests, or, in a copy of the test binary that a test
// started (partdtest.StartHelper, partdtest.RunProcesses), the helper it
// was started for: the File helpers of file_lock_test.go, the Log helpers
// of log_test.go, the benchmarks' workload process (bench_test.go), the
// reader of a 2 GiB key (file_reader_test.go), the committer of attempts
// (attempts_test.go), and the writers of
// partdtest's several-processes check over a File.
func TestMain(m *testing.M) {
	helpers := map[string]partdtest.Helper{"workload": runWorkloadHelper, "stream-rss": runStreamHelper, "attempts": runAttemptsHelper}
	for _, role := range []string{"writer", "mutator", "appender", "wide", "crasher"} {
		helpers[role] = func(args []string) error { return runHelper(role, args) }
	}
	for _, role := range []string{"log-open", "log-crasher"} {
		helpers[role] = func(args []string) error { return runLogHelper(role, args) }
	}
	partdtest.MainWithHelpers(m, map[string]partdtest.Opener{
		"file": func(dir string) (partd.Store, error) { return partd.NewFile(dir) },
	}, helpers)
}
