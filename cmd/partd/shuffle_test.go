package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/internal/workload"
	"github.com/gopartd/partd/redisstore/redistest"
)

// cliRun runs the built binary and returns its stdout, stderr and exit
// status.
func cliRun(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cliRunEnv(t, nil, stdin, args...)
}

// cliRunEnv is cliRun with env (NAME=VALUE) added to the environment, from
// which any $PARTD_STORE and $PARTD_ADDR of the test's own are removed.
func cliRunEnv(t *testing.T, env []string, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(partdBinary(t), args...)
	cmd.Env = cliEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("partd %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// cliEnv returns the environment of the test without $PARTD_STORE and
// $PARTD_ADDR, plus env.
func cliEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envStore+"=") && !strings.HasPrefix(kv, envAddr+"=") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

func runShuffleJSON(t *testing.T, args ...string) (shuffleSummary, string, int) {
	t.Helper()
	out, errOut, code := cliRun(t, nil, append([]string{"shuffle", "--json"}, args...)...)
	var s shuffleSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("partd shuffle %q: exit %d, summary %q: %v\nstderr:\n%s", args, code, out, err, errOut)
	}
	return s, errOut, code
}

func TestShuffleBinary(t *testing.T) {
	t.Parallel()
	const rows, workers = 20_000, 3
	cases := []struct {
		name string
		args []string
	}{
		{"server", nil},
		{"server-columns-zstd", []string{"--format", "columns", "--compress", "zstd", "--memory", "64KiB"}},
		{"server-file", []string{"--policy", "file", "--memory", "64KiB"}},
		{"server-log-unbuffered", []string{"--memory", "0"}},
		{"dir", []string{"--dir", t.TempDir()}},
		{"dir-columns", []string{"--dir", t.TempDir(), "--format", "columns", "--reducers", "2"}},
		{"server-arrow-spills", []string{"--format", "arrow", "--memory", "64KiB"}},
		{"dir-arrow-snappy", []string{"--dir", t.TempDir(), "--format", "arrow", "--compress", "snappy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--rows", "20000", "--workers", "3", "--partitions", "16"}, tc.args...)
			s, errOut, code := runShuffleJSON(t, args...)
			if code != 0 || !s.Verified || s.Error != "" {
				t.Fatalf("exit %d, summary %+v\nstderr:\n%s", code, s, errOut)
			}
			if s.Rows != rows*workers || s.MapBytes == 0 || s.MapBytes != s.ReduceBytes || s.Partitions != 16 {
				t.Errorf("summary %+v: want %d rows and equal map and reduce bytes", s, rows*workers)
			}
			if s.WorkerRSS == 0 || s.ReducerRSS == 0 {
				t.Errorf("summary %+v: no peak memory", s)
			}
			if want := map[string]string{"server": "over Log", "server-file": "over File", "server-log-unbuffered": "(Log)"}[tc.name]; !strings.Contains(s.Store, want) {
				t.Errorf("store %q, want it to say %q", s.Store, want)
			}
		})
	}
	// Through a running server (--addr): verified, and the keys are gone
	// afterwards, while a key of someone else stays.
	addr := cliServer(t)
	c, err := client.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Append(map[string][]byte{"mine": []byte("x"), "shuffle/part-00003": []byte("stale")}); err != nil {
		t.Fatal(err)
	}
	if s, errOut, code := runShuffleJSON(t, "--rows", "5000", "--workers", "2", "--partitions", "8", "--addr", addr); code != 0 || !s.Verified || s.Rows != 10_000 || s.ServerRSS != 0 {
		t.Fatalf("--addr: exit %d, %+v\n%s", code, s, errOut)
	} else if !strings.Contains(errOut, "deleted 1 keys of an earlier shuffle") {
		t.Errorf("--addr: the stale key was not reported deleted:\n%s", errOut)
	}
	if keys, err := c.Keys(); err != nil || len(keys) != 1 || keys[0] != "mine" {
		t.Errorf("keys after a shuffle through the server: %q, %v", keys, err)
	}

	// After a verified run in a directory, the shuffle's keys are gone.
	dir := t.TempDir()
	if s, errOut, code := runShuffleJSON(t, "--rows", "1000", "--workers", "2", "--dir", dir); code != 0 || !s.Verified {
		t.Fatalf("exit %d, %+v\n%s", code, s, errOut)
	}
	if _, err := os.Stat(dir + "/shuffle"); !os.IsNotExist(err) {
		t.Errorf("shuffle keys left in %s: %v", dir, err)
	}
}

func TestShuffleTextSummary(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "shuffle", "--rows", "5000", "--workers", "2", "--partitions", "8")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"2 workers -> 8 partitions -> 2 reducers", "map ", "reduce ", "peak memory: server",
		"verification: OK (8 partitions, 10,000 rows"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestShuffleCorruption damages one partition in the store between the map
// and the reduce phase and checks that verification fails on it.
func TestShuffleCorruption(t *testing.T) {
	t.Parallel()
	for _, extra := range [][]string{nil, {"--dir", t.TempDir(), "--format", "columns"}, {"--format", "arrow"}} {
		args := append([]string{"--rows", "4000", "--workers", "2", "--partitions", "8", "--corrupt-partition", "5"}, extra...)
		s, errOut, code := runShuffleJSON(t, args...)
		if code != 1 || s.Verified {
			t.Fatalf("%q: exit %d, verified %v; want a failure\n%s", extra, code, s.Verified, errOut)
		}
		if !strings.Contains(errOut, "verification failed: 1 of 8 partitions differ") ||
			!strings.Contains(errOut, "partition 5: checksum mismatch") {
			t.Errorf("%q: stderr does not name partition 5:\n%s", extra, errOut)
		}
	}
}

func TestShuffleUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"shuffle", "--format", "csv"},
		{"shuffle", "--workers", "0"},
		{"shuffle", "--addr", "tcp://127.0.0.1:1", "--dir", "/tmp"},
		{"shuffle", "--compress", "lz4"},
		{"shuffle", "extra"},
		{"shuffle", "--memory", "lots"},
	} {
		if _, errOut, code := cliRun(t, nil, args...); code != 2 {
			t.Errorf("partd %q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
	// A server that is not there is an error, not a usage mistake.
	if _, errOut, code := cliRun(t, nil, "shuffle", "--rows", "10", "--timeout", "1s", "--addr", "tcp://127.0.0.1:1"); code != 1 {
		t.Errorf("shuffle against no server: exit %d, want 1\n%s", code, errOut)
	}
}

// TestShufflePythonServer runs a shuffle through Python partd's server,
// which cannot list keys: the keys are cleaned up by name.
func TestShufflePythonServer(t *testing.T) {
	t.Parallel()
	py := exec.Command(workload.PythonBin, filepath.Join("..", "..", "server", "testdata", "pyserver.py"))
	stdin, err := py.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	py.Stderr = os.Stderr
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("Python server printed no port: %v", lines.Err())
	}
	addr := "tcp://127.0.0.1:" + strings.TrimSpace(lines.Text())
	for _, format := range []string{"msgpack", "columns", "arrow"} {
		s, errOut, code := runShuffleJSON(t, "--rows", "3000", "--workers", "2", "--partitions", "8", "--format", format, "--addr", addr, "--timeout", "10s")
		if code != 0 || !s.Verified || s.Rows != 6000 {
			t.Fatalf("%s: exit %d, %+v\n%s", format, code, s, errOut)
		}
	}
	stdin.Close() // the server prints what it holds and exits
	var left string
	if lines.Scan() {
		left = lines.Text()
	}
	if err := py.Wait(); err != nil {
		t.Fatal(err)
	}
	if left != "{}" {
		t.Errorf("the Python server still holds %s", left)
	}
}

// TestShuffleInterrupt stops a shuffle with SIGINT: its processes end, and
// it exits with status 130 saying so.
func TestShuffleInterrupt(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(partdBinary(t), "shuffle", "--rows", "50000000", "--workers", "2", "--partitions", "8")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the first progress line: the map phase is under way.
	var errb strings.Builder
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		errb.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "partd: map:") {
			break
		}
	}
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	for lines.Scan() {
		errb.WriteString(lines.Text() + "\n")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 || !strings.Contains(errb.String(), "partd: interrupted") {
		t.Fatalf("after SIGINT: %v\n%s", err, errb.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

// TestShuffleStore runs the shuffle's processes straight against stores
// named by URI, no partd server: a File directory, one Redis, and a Redis
// Cluster of 3 masters with replicas; and refuses stores processes cannot
// share.
func TestShuffleStore(t *testing.T) {
	single := redistest.NewServer(t)
	cluster := redistest.NewCluster(t, 3, 1)
	for name, uri := range map[string]string{
		"file":          "file://" + t.TempDir(),
		"redis":         "redis://" + single.Addr + "?prefix=shuffletest",
		"redis-cluster": "redis-cluster://" + strings.Join(cluster.Addrs(), ",") + "?prefix=shuffletest",
	} {
		t.Run(name, func(t *testing.T) {
			s, errOut, code := runShuffleJSON(t, "--rows", "4000", "--workers", "3", "--reducers", "2", "--partitions", "16", "--store", uri)
			if code != 0 || !s.Verified || s.Rows != 12_000 || !strings.Contains(s.Store, "no partd server") {
				t.Fatalf("exit %d, %+v\n%s", code, s, errOut)
			}
		})
	}
	// After a verified run the shuffle's keys are gone from the namespace
	// (but for redisstore's expiring markers of applied appends).
	keys, err := single.Client().Keys(context.Background(), "shuffletest:[dxc]*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left in redis after a verified shuffle: %q, %v", keys, err)
	}
	for _, uri := range []string{"mem://", "log://" + t.TempDir(), "s3://x"} {
		if _, errOut, code := cliRun(t, nil, "shuffle", "--store", uri); code != 2 {
			t.Errorf("shuffle --store %s: exit %d, want 2\n%s", uri, code, errOut)
		}
	}
	if _, errOut, code := cliRun(t, nil, "shuffle", "--store", "file:///tmp/x", "--dir", "/tmp/y"); code != 2 {
		t.Errorf("shuffle --store with --dir: exit %d, want 2\n%s", code, errOut)
	}
}
