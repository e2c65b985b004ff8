//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/gopartd/partd/cmd/partd/internal/bench"
)

// TestShuffleInputSurvivesKills runs partd shuffle --input over and over
// while SIGKILLing its map and reduce processes at random moments: every
// run must end verified, exit 0, with each input row in the output exactly
// once (each id of W7's rows read back from the Parquet files), and say how
// many tasks and partitions it ran again. A run that is asked for one
// attempt only fails with the kill named.
func TestShuffleInputSurvivesKills(t *testing.T) {
	t.Parallel()
	const rows = 60_000
	inputs, err := bench.WriteW7(t.TempDir(), rows, 3_000) // 20 map tasks
	if err != nil {
		t.Fatal(err)
	}
	bin := partdBinary(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var retriedTasks, retriedParts, kills int
	for round := range 6 {
		out := filepath.Join(t.TempDir(), "out")
		args := []string{"shuffle", "--by", "key", "--partitions", "8", "--workers", "2", "--reducers", "2",
			"--output", out, "--json", "--quiet", "--memory", "256KiB"}
		for _, in := range inputs {
			args = append(args, "--input", in)
		}
		// Kill map workers in even rounds, reducers in odd ones, up to
		// twice: an item can lose two attempts, and has three.
		victim := []string{shuffleInputMapCmd, shuffleInputReduceCmd}[round%2]
		sum, n, stderr := runKilling(t, bin, args, victim, 2, rng)
		kills += n
		if !sum.Verified || sum.Rows != rows {
			t.Fatalf("round %d (%d kills of %s): %+v\n%s", round, n, victim, sum, stderr)
		}
		retriedTasks += sum.RetriedTasks
		retriedParts += sum.RetriedPartitions
		if n > 0 && sum.RetriedTasks+sum.RetriedPartitions == 0 && !strings.Contains(stderr, "was killed") {
			t.Errorf("round %d: %d processes killed, none retried\n%s", round, n, stderr)
		}
		checkEachIDOnce(t, out, rows)
	}
	t.Logf("%d kills; %d map tasks and %d partitions run again", kills, retriedTasks, retriedParts)
	if kills == 0 || retriedTasks == 0 || retriedParts == 0 {
		t.Errorf("%d kills, %d tasks and %d partitions retried: the test did not kill both phases", kills, retriedTasks, retriedParts)
	}

	// With --attempts 1 a kill fails the run, and names the killed process.
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"shuffle", "--by", "key", "--partitions", "8", "--workers", "2", "--output", out,
		"--json", "--quiet", "--attempts", "1"}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	for range 5 { // a kill may miss a process that has just ended
		sum, n, stderr := runKilling(t, bin, args, shuffleInputMapCmd, 1, rng)
		if n == 0 {
			continue
		}
		if sum.Verified || !strings.Contains(stderr, "signal: killed") || !strings.Contains(stderr, "has used its 1 attempts") {
			t.Fatalf("--attempts 1 and a killed worker: %+v\n%s", sum, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("a failed run wrote %s", out)
		}
		return
	}
	t.Error("no worker was killed in 5 tries")
}

// runKilling runs partd args and, while it runs, SIGKILLs up to max of its
// child processes whose command line holds victim, each after a random
// delay. It returns the run's summary, the kills and its stderr.
func runKilling(t *testing.T, bin string, args []string, victim string, max int, rng *rand.Rand) (inputSummary, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kills := killSome(cmd, victim, max, rng)
	err := cmd.Wait()
	var sum inputSummary
	if err != nil && stdout.Len() == 0 { // a failed run prints no summary
		return sum, kills, stderr.String()
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); jerr != nil {
		t.Fatalf("partd %s: %v; no summary (%v)\n%s\n%s", strings.Join(args, " "), err, jerr, stdout.String(), stderr.String())
	}
	return sum, kills, stderr.String()
}

// killSome waits for cmd to end while SIGKILLing up to max of its child
// processes whose command line holds victim: each kill comes a random 0 to
// 60 ms after a victim is seen, so that even a quick run is hit. It
// returns how many it killed; cmd.Wait is left to the caller.
func killSome(cmd *exec.Cmd, victim string, max int, rng *rand.Rand) int {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	kills := 0
	var at time.Time // when to kill, once a victim is seen
	for range tick.C {
		if isZombie(cmd.Process.Pid) { // it has exited (cmd.Wait is the caller's)
			return kills
		}
		if kills >= max {
			continue
		}
		pids := childrenRunning(cmd.Process.Pid, victim)
		switch {
		case len(pids) == 0:
			at = time.Time{}
		case at.IsZero():
			at = time.Now().Add(time.Duration(rng.IntN(60)) * time.Millisecond)
		case time.Now().After(at):
			if syscall.Kill(pids[rng.IntN(len(pids))], syscall.SIGKILL) == nil {
				kills++
			}
			at = time.Time{}
		}
	}
	return kills
}

// isZombie reports whether process pid has exited and waits to be reaped.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return len(rest) > 1 && rest[1] == 'Z'
}

// childrenRunning returns the processes whose parent is ppid and whose
// command line holds word.
func childrenRunning(ppid int, word string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after ")".
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		var state string
		var parent int
		if _, err := fmt.Sscan(string(rest), &state, &parent); err != nil || parent != ppid {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte(word)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// checkEachIDOnce reads every Parquet file in dir and checks that the id
// column holds 0 … rows-1, each once.
func checkEachIDOnce(t *testing.T, dir string, rows int) {
	t.Helper()
	seen := make([]bool, rows)
	files, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no partition files in %s: %v", dir, err)
	}
	n := 0
	for _, path := range files {
		rdr, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		rdr.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := tbl.Column(tbl.Schema().FieldIndices("id")[0])
		for _, chunk := range col.Data().Chunks() {
			for _, id := range chunk.(*array.Int64).Int64Values() {
				if id < 0 || id >= int64(rows) || seen[id] {
					tbl.Release()
					t.Fatalf("%s: id %d out of range or seen twice", path, id)
				}
				seen[id] = true
				n++
			}
		}
		tbl.Release()
	}
	if n != rows {
		t.Fatalf("%d rows in the output, want %d", n, rows)
	}
}

// TestShuffleSurvivesKills does the same for the self-check on generated
// rows, in each storage format: SIGKILLed mappers and reducers run again,
// and the run verifies every row exactly once (rows and checksums).
func TestShuffleSurvivesKills(t *testing.T) {
	t.Parallel()
	bin := partdBinary(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	var retried, kills int
	for round, format := range []string{"msgpack", "columns", "arrow", "msgpack", "columns", "arrow"} {
		victim := []string{shuffleMapCmd, shuffleReduceCmd}[round%2]
		args := []string{"shuffle", "--rows", "150000", "--workers", "3", "--reducers", "2", "--partitions", "8",
			"--format", format, "--memory", "1MiB", "--json", "--quiet"}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n := killSome(cmd, victim, 2, rng)
		cmd.Wait()
		cancel()
		var s shuffleSummary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || !s.Verified || s.Rows != 450_000 {
			t.Fatalf("round %d (%s, %d kills of %s): %v %+v\n%s", round, format, n, victim, err, s, stderr.String())
		}
		kills += n
		retried += s.RetriedWorkers + s.RetriedReducers
	}
	t.Logf("%d kills, %d workers and reducers run again", kills, retried)
	if kills == 0 || retried == 0 {
		t.Errorf("%d kills, %d run again: the test killed nothing", kills, retried)
	}
}

// TestShuffleSweepsKilledRuns SIGKILLs a whole shuffle (the parent with
// its embedded server, and its workers) and runs another with the same
// temporary directory and output: the new run removes the store directory
// and the staging directory the killed one left, and says so.
func TestShuffleSweepsKilledRuns(t *testing.T) {
	t.Parallel()
	bin := partdBinary(t)
	tmp := t.TempDir()
	inputs, err := bench.WriteW7(t.TempDir(), 200_000, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"shuffle", "--by", "key", "--partitions", "8", "--workers", "2", "--output", out}
	for _, in := range inputs {
		args = append(args, "--input", in)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the whole group once the map phase is under way.
	for deadline := time.Now().Add(time.Minute); len(childrenRunning(cmd.Process.Pid, shuffleInputMapCmd)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no map worker started in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	left, _ := filepath.Glob(filepath.Join(tmp, "partd-shuffle-*"))
	staged, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out.partd-*"))
	if len(left) != 1 || len(staged) != 1 {
		t.Fatalf("the killed run left store directories %q and staging directories %q, want one of each", left, staged)
	}

	again := exec.Command(bin, append(args, "--quiet")...)
	again.Env = cmd.Env
	var errOut bytes.Buffer
	again.Stderr = &errOut
	if err := again.Run(); err != nil {
		t.Fatalf("the next run: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "removed 1 store directories that killed runs left: "+left[0]) {
		t.Errorf("the next run did not say it removed %s:\n%s", left[0], errOut.String())
	}
	for _, dir := range append(left, staged...) {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", dir, err)
		}
	}
	checkEachIDOnce(t, out, 200_000)
}
