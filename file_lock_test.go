package partd_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/internal/osfile"
	"github.com/gopartd/partd/partdtest"
)

// The tests in this file start real OS processes (partdtest.StartHelper:
// the test binary run again as a helper, see main_test.go), all opening one
// File directory: they test the cross-process lock and the generation
// counter of file_lock.go.

// TestFileProcessesSuite: the public several-processes check over one File
// directory.
func TestFileProcessesSuite(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	partdtest.RunProcesses(t, "file", dir, 4, 150, f)
}

// runAll starts cmds and waits for them all. The first that fails fails the
// test, after the others are killed: a helper that waits for one that died
// must not hang the test.
func runAll(t *testing.T, cmds []*exec.Cmd) {
	t.Helper()
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		c   *exec.Cmd
		err error
	}
	done := make(chan result, len(cmds))
	for _, c := range cmds {
		go func() { done <- result{c, c.Wait()} }()
	}
	var first *result
	for range cmds {
		r := <-done
		if r.err != nil && first == nil {
			first = &r
			for _, c := range cmds {
				c.Process.Kill()
			}
		}
	}
	if first != nil {
		t.Fatalf("%v: %v", first.c.Args[len(first.c.Args)-3:], first.err)
	}
}

// rec is a fixed-size record: writer w's n-th append to a key.
var rec = partdtest.Record

const recLen = partdtest.RecordLen

// parseRecs splits v into records and fails on a torn one.
func parseRecs(t *testing.T, key string, v []byte) [][2]int {
	t.Helper()
	recs, err := partdtest.Records(v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return recs
}

const (
	procWriters = 4
	procRecords = 10_000
	procTail    = 100
	mutatorID   = 99
)

func sharedKeys() []string { return []string{"shared/a", "shared/b", "shared/c"} }
func ctlKeys() []string    { return []string{"ctl/del", "ctl/set", "ctl/empty", "ctl/repair"} }

// mutate makes the changes that unlink or replace a key's file, one per
// control key: Delete, Set, Set with an empty value, and the Repair of a key
// with no whole frame (which sets it empty). set is the value Set writes.
func mutate(s partd.Store, set []byte) error {
	if err := s.Delete("ctl/del"); err != nil {
		return err
	}
	if err := s.Set("ctl/set", set); err != nil {
		return err
	}
	if err := s.Set("ctl/empty", nil); err != nil {
		return err
	}
	_, _, err := compress.Repair(s, "ctl/repair")
	return err
}

// runHelper runs the File helper role (see main_test.go): args are the
// directory, an argument and a spare.
func runHelper(role string, args []string) error {
	dir, arg, signal := args[0], args[1], args[2]
	s, err := partd.NewFile(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	waitFor := func(name string) {
		for {
			if _, err := os.Stat(name); err == nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	switch role {
	case "writer":
		w, _ := strconv.Atoi(arg)
		for n := range procRecords {
			batch := map[string][]byte{fmt.Sprintf("private/%d", w): rec(w, n)}
			for j, k := range sharedKeys() {
				if (n+j)%2 == w%2 {
					batch[k] = rec(w, n)
				}
			}
			if n%3 == 0 {
				for _, k := range ctlKeys() {
					batch[k] = rec(w, n)
				}
			}
			if err := s.Append(batch); err != nil {
				return err
			}
		}
		waitFor(signal) // the mutator is done: append a tail after its last change
		for n := procRecords; n < procRecords+procTail; n++ {
			batch := map[string][]byte{}
			for _, k := range ctlKeys() {
				batch[k] = rec(w, n)
			}
			if err := s.Append(batch); err != nil {
				return err
			}
		}
	case "mutator":
		for i := range 300 {
			if err := mutate(s, rec(mutatorID, i)); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		if err := mutate(s, rec(mutatorID, 999_999)); err != nil {
			return err
		}
		return os.WriteFile(signal, nil, 0o644)
	case "appender": // appends until told the store was dropped, then a tail
		for n := 0; ; n++ {
			if _, err := os.Stat(signal); err == nil {
				for m := n; m < n+procTail; m++ {
					if err := s.Append(map[string][]byte{"k": rec(1, m)}); err != nil {
						return err
					}
				}
				return nil
			}
			if err := s.Append(map[string][]byte{"k": rec(1, n)}); err != nil {
				return err
			}
			if n == 500 {
				os.WriteFile(arg, nil, 0o644) // tell the test appends are flowing
			}
		}
	case "wide": // a batch of more keys than the process may open files
		if err := osfile.LimitOpenFiles(256); err != nil {
			return err
		}
		s.Close()
		if s, err = partd.NewFile(dir); err != nil { // sees the lower limit
			return err
		}
		defer s.Close()
		batch := map[string][]byte{}
		for i := range 3000 {
			batch[fmt.Sprintf("wide/%04d", i)] = rec(0, i)
		}
		if err := s.Append(batch); err != nil {
			return fmt.Errorf("file: %w", err)
		}
		slow, err := partd.NewFile(arg)
		if err != nil {
			return err
		}
		b := partd.NewBuffer(partd.NewDict(), slow, 1<<30)
		if err := b.Append(batch); err != nil {
			return err
		}
		if err := b.Close(); err != nil { // flushes 3000 keys in one round
			return fmt.Errorf("buffer: %w", err)
		}
		if err := s.Delete("wide/0007"); err != nil {
			return err
		}
		if err := s.Append(batch); err != nil { // cached, uncached and new files
			return fmt.Errorf("file again: %w", err)
		}
	case "crasher": // appends 64 KiB values, printing each seq once Append returned
		out := bufio.NewWriter(os.Stdout)
		for n := 0; ; n++ {
			v := bytes.Repeat(rec(0, n), 64<<10/recLen)
			if err := s.Append(map[string][]byte{"big": v, "small": rec(0, n)}); err != nil {
				return err
			}
			fmt.Fprintln(out, n)
			out.Flush()
		}
	}
	return nil
}

func TestManyProcessesOneDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	done := filepath.Join(t.TempDir(), "mutator-done")
	var cmds []*exec.Cmd
	for w := range procWriters {
		cmds = append(cmds, partdtest.StartHelper("writer", dir, strconv.Itoa(w), done))
	}
	cmds = append(cmds, partdtest.StartHelper("mutator", dir, "-", done))
	runAll(t, cmds)
	s, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Keys nobody deleted: every record exactly once, each writer in order.
	for w := range procWriters {
		k := fmt.Sprintf("private/%d", w)
		v, _ := s.Get(k)
		recs := parseRecs(t, k, v[0])
		if len(recs) != procRecords {
			t.Fatalf("%s holds %d records, want %d", k, len(recs), procRecords)
		}
		for n, r := range recs {
			if r != [2]int{w, n} {
				t.Fatalf("%s record %d is %v", k, n, r)
			}
		}
	}
	for j, k := range sharedKeys() {
		v, _ := s.Get(k)
		next := map[int]int{}
		for _, r := range parseRecs(t, k, v[0]) {
			if r[1] < next[r[0]] || (r[1]+j)%2 != r[0]%2 {
				t.Fatalf("%s: record %v out of order, duplicated or foreign", k, r)
			}
			next[r[0]] = r[1] + 1
		}
		for w := range procWriters {
			count := 0
			for n := range procRecords {
				if (n+j)%2 == w%2 {
					count++
				}
			}
			got := 0
			for _, r := range parseRecs(t, k, v[0]) {
				if r[0] == w {
					got++
				}
			}
			if got != count {
				t.Fatalf("%s holds %d records of writer %d, want %d", k, got, w, count)
			}
		}
	}
	// Keys the mutator changed: its last Set comes first, and after its last
	// change every writer's appends are all there, in order, through the tail:
	// no writer kept appending to a file that another process had unlinked.
	for _, k := range ctlKeys() {
		v, _ := s.Get(k)
		recs := parseRecs(t, k, v[0])
		if k == "ctl/set" {
			if len(recs) == 0 || recs[0] != [2]int{mutatorID, 999_999} {
				t.Fatalf("%s does not start with the mutator's last Set: %v", k, recs[:min(len(recs), 3)])
			}
			recs = recs[1:]
		}
		last := map[int]int{}
		for _, r := range recs {
			if prev, ok := last[r[0]]; ok && r[1] != prev+3 && !(prev >= procRecords-1 && r[1] == max(prev+1, procRecords)) {
				t.Fatalf("%s: writer %d jumps from %d to %d (appends lost)", k, r[0], prev, r[1])
			}
			last[r[0]] = r[1]
		}
		for w := range procWriters {
			if last[w] != procRecords+procTail-1 {
				t.Fatalf("%s: writer %d's last record is %d, want %d", k, w, last[w], procRecords+procTail-1)
			}
		}
	}
}

func TestDropSeenByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	flowing := filepath.Join(t.TempDir(), "flowing")
	dropped := filepath.Join(t.TempDir(), "dropped")
	cmd := partdtest.StartHelper("appender", dir, flowing, dropped)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s, err := partd.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		if _, err := os.Stat(flowing); err == nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dropped, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get("k")
	if err != nil {
		t.Fatal(err)
	}
	recs := parseRecs(t, "k", v[0])
	if len(recs) < procTail {
		t.Fatalf("after Drop the other process's %d later appends left %d records: its handle outlived the Drop", procTail, len(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i][1] != recs[i-1][1]+1 {
			t.Fatalf("records after Drop not contiguous: %v then %v", recs[i-1], recs[i])
		}
	}
}

// An Append of more keys than the process may have files open must work:
// a batch holds a bounded number of files open at once.
func TestBatchWiderThanOpenFileLimit(t *testing.T) {
	dir, buffered := filepath.Join(t.TempDir(), "file"), filepath.Join(t.TempDir(), "buffer")
	cmd := partdtest.StartHelper("wide", dir, buffered, "-")
	if err := cmd.Run(); err != nil { // the helper's error is on stderr
		t.Fatal(err)
	}
	for _, d := range []string{dir, buffered} {
		s, err := partd.NewFile(d)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := s.Keys()
		if len(keys) != 3000 {
			t.Fatalf("%s: %d keys, want 3000", d, len(keys))
		}
		vals, err := s.Get("wide/0000", "wide/0007", "wide/2999")
		if err != nil {
			t.Fatal(err)
		}
		want := [][]byte{rec(0, 0), rec(0, 7), rec(0, 2999)}
		if d == dir {
			want = [][]byte{append(rec(0, 0), rec(0, 0)...), rec(0, 7), append(rec(0, 2999), rec(0, 2999)...)}
		}
		for i := range want {
			if !bytes.Equal(vals[i], want[i]) {
				t.Fatalf("%s: value %d = %q, want %q", d, i, vals[i], want[i])
			}
		}
		s.Close()
	}
}

func TestCrashMidAppendKeepsReturnedAppends(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	cmd := partdtest.StartHelper("crasher", dir, "-", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	acked := -1
	for sc.Scan() {
		acked, _ = strconv.Atoi(sc.Text())
		if acked == 200 {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // appends acknowledged before the kill landed
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			acked = n
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("crasher ended with %v, want SIGKILL", err)
	}
	s, err := partd.NewFile(dir) // the lock died with the process
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Get("small", "big")
	if err != nil {
		t.Fatal(err)
	}
	small := parseRecs(t, "small", v[0][:len(v[0])/recLen*recLen])
	if len(small) < acked+1 {
		t.Fatalf("small holds %d records, but %d appends returned before the kill", len(small), acked+1)
	}
	for n := 0; n <= acked; n++ {
		if small[n] != [2]int{0, n} {
			t.Fatalf("small record %d is %v", n, small[n])
		}
		want := bytes.Repeat(rec(0, n), 64<<10/recLen)
		off := n * len(want)
		if len(v[1]) < off+len(want) || !bytes.Equal(v[1][off:off+len(want)], want) {
			t.Fatalf("big: value %d of the returned appends is not intact", n)
		}
	}
	if err := s.Append(map[string][]byte{"after": []byte("crash")}); err != nil {
		t.Fatalf("store unusable after a crash: %v", err)
	}
}
