package partd_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
)

// TestAttempts: appends under an attempt are invisible until it commits;
// the first attempt of a task to commit wins and a later one is discarded
// with ErrAttemptLost; a retried append (same sequence number) is applied
// once; Abort and DiscardUncommitted discard; committing twice is
// harmless. Over every store that commits a batch whole.
func TestAttempts(t *testing.T) {
	stores := map[string]func(t *testing.T) partd.Store{
		"dict": func(*testing.T) partd.Store { return partd.NewDict() },
		"log":  func(t *testing.T) partd.Store { return smallLog(t, t.TempDir()) },
		"buffer-log": func(t *testing.T) partd.Store {
			return partd.NewBuffer(partd.NewDict(), smallLog(t, t.TempDir()), 64)
		},
		"zstd-log": func(t *testing.T) partd.Store { return compress.Zstd(smallLog(t, t.TempDir())) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			a, err := partd.NewAttempts(open(t))
			must(t, err)
			defer a.Close()
			first, err := a.Attempt("map-1", 0)
			must(t, err)
			second, err := a.Attempt("map-1", 1)
			must(t, err)
			must(t, first.Append(1, map[string][]byte{"p/0": []byte("a"), "p/1": []byte("x")}))
			must(t, first.Append(2, map[string][]byte{"p/0": []byte("b")}))
			must(t, first.Append(2, map[string][]byte{"p/0": []byte("b")})) // a retry: skipped
			must(t, second.Append(1, map[string][]byte{"p/0": []byte("B")}))
			if keys, _ := a.Keys(); len(keys) != 0 {
				t.Fatalf("keys before a commit: %q", keys)
			}
			if keys, _ := partd.KeysPrefix(a, ""); len(keys) != 0 {
				t.Fatalf("KeysPrefix before a commit: %q", keys)
			}
			if got := getOne(t, a, "p/0"); got != "" {
				t.Fatalf("p/0 before a commit: %q", got)
			}
			must(t, first.Commit())
			if got, got1 := getOne(t, a, "p/0"), getOne(t, a, "p/1"); got != "ab" || got1 != "x" {
				t.Fatalf("after the commit: p/0 %q, p/1 %q; want ab, x", got, got1)
			}
			if err := second.Commit(); !errors.Is(err, partd.ErrAttemptLost) {
				t.Fatalf("the second attempt's commit: %v, want ErrAttemptLost", err)
			}
			must(t, first.Commit()) // again, as after a lost answer: nothing changes
			if got := getOne(t, a, "p/0"); got != "ab" {
				t.Fatalf("after the lost and repeated commits: p/0 %q", got)
			}
			keys, err := a.Keys()
			must(t, err)
			if !slices.Equal(keys, []string{"p/0", "p/1"}) {
				t.Fatalf("keys: %q", keys)
			}
			if page, err := partd.KeysPage(a, "", "", 10); err != nil || !slices.Equal(page, keys) {
				t.Fatalf("KeysPage: %q, %v", page, err)
			}
			// Abort and DiscardUncommitted leave nothing staged.
			other, _ := a.Attempt("map-2", 0)
			must(t, other.Append(1, map[string][]byte{"q": []byte("1")}))
			must(t, other.Abort())
			third, _ := a.Attempt("map-3", 0)
			must(t, third.Append(1, map[string][]byte{"q": []byte("1")}))
			must(t, a.DiscardUncommitted())
			staged, _ := partd.KeysPrefix(a.Unwrap(), partd.AttemptsPrefix)
			if !slices.Equal(staged, []string{partd.AttemptsPrefix + "map-1/commit"}) {
				t.Fatalf("left under %s: %q", partd.AttemptsPrefix, staged)
			}
			if _, err := a.Attempt("a/b", 0); !errors.Is(err, partd.ErrInvalidKey) {
				t.Errorf("a task with a slash: %v", err)
			}
			if err := third.Append(2, map[string][]byte{partd.AttemptsPrefix + "x": []byte("1")}); !errors.Is(err, partd.ErrInvalidKey) {
				t.Errorf("an append under the attempts' prefix: %v", err)
			}
		})
	}
	f, err := partd.NewFile(t.TempDir())
	must(t, err)
	defer f.Close()
	if _, err := partd.NewAttempts(f); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("attempts over a File: %v, want ErrUnsupported", err)
	}
}

// attemptsChunk is chunk j of the three that task i appends to its key.
func attemptsChunk(task, j int) string { return fmt.Sprintf("task %d chunk %d;", task, j) }

// runAttemptsHelper opens the Log in args[0] and, from task args[1] on,
// runs each task as attempt args[2] (3 appends, then a commit), printing
// "committed N" once each commit returns, until it is killed.
func runAttemptsHelper(args []string) error {
	from, _ := strconv.Atoi(args[1])
	attempt, _ := strconv.Atoi(args[2])
	l, err := partd.OpenLog(args[0], &partd.LogOptions{SegmentSize: 16 << 10, Logger: quietLog})
	if err != nil {
		return err
	}
	a, err := partd.NewAttempts(l)
	if err != nil {
		return err
	}
	for i := from; ; i++ {
		t, err := a.Attempt("t"+strconv.Itoa(i), attempt)
		if err != nil {
			return err
		}
		for j := range 3 {
			if err := t.Append(uint64(j+1), map[string][]byte{fmt.Sprintf("k%d", i%7): []byte(attemptsChunk(i, j))}); err != nil {
				return err
			}
		}
		if err := t.Commit(); err != nil {
			return err
		}
		fmt.Printf("committed %d\n", i)
	}
}

// TestAttemptsCrash SIGKILLs a process that commits attempts into a Log at
// random moments, then commits every task it had begun again as a new
// attempt, as a shuffle retries a killed worker's task: after each round,
// every task acknowledged, and every task retried, is in its key exactly
// once, whole, and nothing is left staged.
func TestAttemptsCrash(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	next := 0 // the first task of the next round
	for round := range 6 {
		cmd := partdtest.StartHelper("attempts", dir, strconv.Itoa(next), strconv.Itoa(2*round))
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		// The kill comes at a random moment after the first commit, so
		// that every round gets somewhere however slow the machine.
		acked := next - 1
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "committed "); ok {
				if acked < next {
					time.AfterFunc(time.Duration(rng.IntN(100))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
				}
				acked, _ = strconv.Atoi(n)
			}
		}
		cmd.Wait()
		// Reopen and run the task the kill interrupted again, as a new
		// attempt: it commits, or finds its first attempt did.
		l := smallLog(t, dir)
		a, err := partd.NewAttempts(l)
		must(t, err)
		retry, err := a.Attempt("t"+strconv.Itoa(acked+1), 2*round+1)
		must(t, err)
		for j := range 3 {
			must(t, retry.Append(uint64(j+1), map[string][]byte{fmt.Sprintf("k%d", (acked+1)%7): []byte(attemptsChunk(acked+1, j))}))
		}
		if err := retry.Commit(); err != nil && !errors.Is(err, partd.ErrAttemptLost) {
			t.Fatal(err)
		}
		next = acked + 2
		// Every task below next: once, whole.
		for k := range 7 {
			got := getOne(t, a, fmt.Sprintf("k%d", k))
			for i := k; i < next; i += 7 {
				whole := attemptsChunk(i, 0) + attemptsChunk(i, 1) + attemptsChunk(i, 2)
				if n := strings.Count(got, whole); n != 1 {
					t.Fatalf("round %d: task %d is in k%d %d times, want once:\n%q", round, i, k, n, got)
				}
				got = strings.Replace(got, whole, "", 1)
			}
			if got != "" {
				t.Fatalf("round %d: k%d holds more than its tasks: %q", round, k, got)
			}
		}
		staged, err := partd.KeysPrefix(l, partd.AttemptsPrefix)
		must(t, err)
		for _, k := range staged {
			if !strings.HasSuffix(k, "/commit") {
				t.Fatalf("round %d: %s is left staged", round, k)
			}
		}
		must(t, l.Close())
	}
	if next < 12 {
		t.Errorf("only %d tasks committed in 6 rounds", next)
	}
}
