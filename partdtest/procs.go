package partdtest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// Several processes: a store that many processes share (a File directory,
// a client of a server, a Redis namespace) runs RunProcesses, which starts
// copies of the test binary that append to one store at once. The test
// binary must route those copies to their work: call Main from TestMain.
//
//	func TestMain(m *testing.M) { partdtest.Main(m, openers) }
//
// openers maps a name to a function that opens the shared store from a
// string (a directory, an address).

// processEnv names the child's role: "name;target;writer;rounds".
const processEnv = "PARTDTEST_PROCESS"

// An Opener opens the store that target names, in a child process.
type Opener func(target string) (partd.Store, error)

// Main runs the tests, or, in a child that RunProcesses started, its
// appends, and exits.
func Main(m *testing.M, openers map[string]Opener) {
	spec := os.Getenv(processEnv)
	if spec == "" {
		os.Exit(m.Run())
	}
	if err := runChild(spec, openers); err != nil {
		fmt.Fprintln(os.Stderr, "partdtest child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild appends rounds records of its writer to a private key and to
// the shared keys, one batch per round.
func runChild(spec string, openers map[string]Opener) error {
	f := strings.Split(spec, ";")
	if len(f) != 4 {
		return fmt.Errorf("bad %s %q", processEnv, spec)
	}
	open := openers[f[0]]
	if open == nil {
		return fmt.Errorf("no opener named %q", f[0])
	}
	w, err1 := strconv.Atoi(f[2])
	rounds, err2 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad %s %q", processEnv, spec)
	}
	s, err := open(f[1])
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
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), fmt.Sprintf("%s=%s;%s;%d;%d", processEnv, name, target, w, rounds))
		c.Stderr = os.Stderr
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
