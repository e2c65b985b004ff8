package partdtest

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/gopartd/partd"
)

// Several processes: a store that many processes share (a File directory,
// a client of a server, a Redis namespace) runs RunProcesses, which starts
// copies of the test binary that append to one store at once. A test that
// needs processes of its own (a second opener, a crash, a lower limit on
// open files) starts the test binary again as a helper with StartHelper.
// Both are one mechanism, as os/exec's tests' TestHelperProcess: the test
// binary must route the copies to their work, by calling Main (or
// MainWithHelpers, with helpers of its own, or RunHelper before its own
// setup) from TestMain.
//
//	func TestMain(m *testing.M) { partdtest.Main(m, openers) }
//
// openers maps a name to a function that opens the shared store from a
// string (a directory, an address).

// helperEnv names the helper a copy of the test binary runs; its arguments
// follow "--" on its command line.
const helperEnv = "PARTDTEST_HELPER"

// writerHelper is the helper of RunProcesses's writers: its arguments are
// the opener's name, the target, the writer's number and the rounds.
const writerHelper = "partdtest-writer"

// An Opener opens the store that target names, in a child process.
type Opener func(target string) (partd.Store, error)

// A Helper is work a test runs in a child process that StartHelper started:
// args are the arguments given to StartHelper. The child exits with status
// 0 if it returns nil, else 1 after printing the error.
type Helper func(args []string) error

// Main runs the tests, or, in a child that RunProcesses started, its
// appends, and exits.
func Main(m *testing.M, openers map[string]Opener) { MainWithHelpers(m, openers, nil) }

// MainWithHelpers is Main for a test binary that also starts helpers of its
// own: in a child that StartHelper started, it runs the helper of that name
// and exits.
func MainWithHelpers(m *testing.M, openers map[string]Opener, helpers map[string]Helper) {
	RunHelper(openers, helpers)
	os.Exit(m.Run())
}

// RunHelper, in a child that StartHelper or RunProcesses started, runs the
// helper it was started for and exits: with status 0 if the helper returns
// nil, else 1 after printing the error. Elsewhere it returns at once. A
// TestMain that sets something up around m.Run (a server its tests share)
// calls it first, so that a child skips the setup:
//
//	func TestMain(m *testing.M) {
//		partdtest.RunHelper(nil, helpers)
//		// start the shared server, run m.Run, stop the server
//	}
func RunHelper(openers map[string]Opener, helpers map[string]Helper) {
	name := os.Getenv(helperEnv)
	if name == "" {
		return
	}
	var args []string
	if i := slices.Index(os.Args, "--"); i >= 0 {
		args = os.Args[i+1:]
	}
	h := helpers[name]
	if name == writerHelper {
		h = func(args []string) error { return runChild(args, openers) }
	}
	err := fmt.Errorf("no helper named %q", name)
	if h != nil {
		err = h(args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "partdtest helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// StartHelper returns a command, not started, that runs the test binary as
// the helper name (see MainWithHelpers) with args. Its standard error is the
// test's; the caller may set the rest.
func StartHelper(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// runChild appends rounds records of its writer to a private key and to
// the shared keys, one batch per round. args are the opener's name, the
// target, the writer's number and the rounds.
func runChild(args []string, openers map[string]Opener) error {
	if len(args) != 4 {
		return fmt.Errorf("writer: arguments %q, want name, target, writer and rounds", args)
	}
	open := openers[args[0]]
	if open == nil {
		return fmt.Errorf("no opener named %q", args[0])
	}
	w, err1 := strconv.Atoi(args[2])
	rounds, err2 := strconv.Atoi(args[3])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("writer: arguments %q, want name, target, writer and rounds", args)
	}
	s, err := open(args[1])
	if err != nil {
		return err
	}
	for n := range rounds {
		r := Record(w, n)
		batch := map[string][]byte{fmt.Sprintf("proc/private/%d", w): r, "proc/shared": r}
		if n%3 == 0 {
			batch["proc/other"] = r
		}
		if err := s.Append(batch); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

// RunProcesses starts writers processes that each append rounds batches to
// the store the opener called name opens from target, waits for them, and
// checks with check (a store open on the same target in this process) that
// every private key holds its writer's records in order and the shared keys
// every writer's records exactly once, each writer's in order.
func RunProcesses(t *testing.T, name, target string, writers, rounds int, check partd.Store) {
	t.Helper()
	cmds := make([]*exec.Cmd, writers)
	for w := range cmds {
		c := StartHelper(writerHelper, name, target, strconv.Itoa(w), strconv.Itoa(rounds))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[w] = c
	}
	for w, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("writer process %d: %v", w, err)
		}
	}
	counts := map[string]int{"proc/shared": rounds * writers, "proc/other": writers * ((rounds + 2) / 3)}
	for w := range writers {
		counts[fmt.Sprintf("proc/private/%d", w)] = rounds
	}
	for key, want := range counts {
		recs, err := Records(get1(t, check, key))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if len(recs) != want {
			t.Fatalf("%s: %d records, want %d", key, len(recs), want)
		}
		next := map[int]int{}
		for _, r := range recs {
			w, n := r[0], r[1]
			step := 1
			if key == "proc/other" {
				step = 3
			}
			if n != next[w] {
				t.Fatalf("%s: writer %d's record %d after %d: lost, repeated or reordered", key, w, n, next[w]-step)
			}
			next[w] = n + step
		}
	}
}
