package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeysAndStatJSON: keys --json and -0 keep keys with newlines whole,
// stat --json gives sizes, totals and missing keys, for a directory, a
// store by URI and a server.
func TestKeysAndStatJSON(t *testing.T) {
	t.Parallel()
	targets := map[string][]string{
		"dir":   {"--dir", t.TempDir()},
		"store": {"--store", "log://" + t.TempDir()},
		"addr":  {"--addr", cliServer(t)},
	}
	for name, flag := range targets {
		t.Run(name, func(t *testing.T) {
			run := func(stdin string, args ...string) string {
				t.Helper()
				all := append(append([]string{args[0]}, flag...), args[1:]...)
				out, errOut, code := cliRun(t, []byte(stdin), all...)
				if code != 0 {
					t.Fatalf("partd %q: exit %d\n%s", all, code, errOut)
				}
				return out
			}
			run("four", "append", "two\nlines")
			run("12345", "append", "df/a")
			if out := run("", "keys", "--json", "zzz"); strings.TrimSpace(out) != "[]" {
				t.Errorf("keys --json with no key = %q, want []", out)
			}
			if out := run("", "keys", "-0"); out != "df/a\x00two\nlines\x00" {
				t.Errorf("keys -0 = %q", out)
			}
			var keys []string
			if err := json.Unmarshal([]byte(run("", "keys", "--json")), &keys); err != nil ||
				len(keys) != 2 || keys[0] != "df/a" || keys[1] != "two\nlines" {
				t.Errorf("keys --json: %q, %v", keys, err)
			}
			if err := json.Unmarshal([]byte(run("", "keys", "--json", "tw")), &keys); err != nil || len(keys) != 1 {
				t.Errorf("keys --json tw: %q, %v", keys, err)
			}
			// stat of a missing key prints what it found and exits 1,
			// naming the store.
			missing := func(args ...string) string {
				t.Helper()
				all := append(append([]string{args[0]}, flag...), args[1:]...)
				out, errOut, code := cliRun(t, nil, all...)
				if code != 1 || !strings.Contains(errOut, "no such key in ") || !strings.Contains(errOut, "nope") || strings.Contains(errOut, "partd.") {
					t.Fatalf("partd %q: exit %d, stderr %q; want 1 and the store named", all, code, errOut)
				}
				return out
			}
			var st keysStat
			if err := json.Unmarshal([]byte(missing("stat", "--json", "df/a", "nope", "two\nlines")), &st); err != nil {
				t.Fatal(err)
			}
			if st.TotalBytes != 9 || st.KeyCount != 2 || len(st.Keys) != 2 || st.Keys[0] != (keySize{"df/a", 5}) ||
				st.Keys[1] != (keySize{"two\nlines", 4}) || len(st.Missing) != 1 || st.Missing[0] != "nope" {
				t.Errorf("stat --json = %+v", st)
			}
			text := missing("stat", "df/a", "nope")
			if !strings.Contains(text, "missing  nope") || !strings.Contains(text, "5  total (1 keys, 1 missing)") {
				t.Errorf("stat with a missing key:\n%s", text)
			}
			if name == "addr" {
				var ss serverStat
				if err := json.Unmarshal([]byte(run("", "stat", "--json")), &ss); err != nil {
					t.Fatal(err)
				}
				if ss.Server != flag[1] || ss.KeyCount != 2 || ss.Requests["append"] != 2 || ss.Version == "" {
					t.Errorf("stat --json of a server = %+v", ss)
				}
			} else if err := json.Unmarshal([]byte(run("", "stat", "--json")), &st); err != nil || st.KeyCount != 2 || len(st.Missing) != 0 {
				t.Errorf("stat --json of every key = %+v, %v", st, err)
			}
		})
	}
	if _, errOut, code := cliRun(t, nil, "keys", "--dir", t.TempDir(), "--json", "-0"); code != 2 {
		t.Errorf("keys --json -0: exit %d, want 2\n%s", code, errOut)
	}
}

// TestGetMissing: get of a missing key says so and exits 1, unless
// --allow-missing; repair --dry-run exits 1 when it finds a torn tail.
func TestGetMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, errOut, code := cliRun(t, []byte("here"), "append", "--dir", dir, "a"); code != 0 {
		t.Fatalf("append: exit %d\n%s", code, errOut)
	}
	out, errOut, code := cliRun(t, nil, "get", "--dir", dir, "a", "gone", "b\nc", "a")
	if code != 1 || out != "herehere" || errOut != "partd: no such key: gone\npartd: no such key: \"b\\nc\"\n" {
		t.Errorf("get with missing keys: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = cliRun(t, nil, "get", "--dir", dir, "--allow-missing", "gone", "a")
	if code != 0 || out != "here" || errOut != "" {
		t.Errorf("get --allow-missing: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// A key that was written and deleted is missing too.
	cliRun(t, nil, "delete", "--dir", dir, "a")
	if _, errOut, code := cliRun(t, nil, "get", "--dir", dir, "a"); code != 1 || !strings.Contains(errOut, "no such key: a") {
		t.Errorf("get of a deleted key: exit %d, %s", code, errOut)
	}

	// repair --dry-run: 0 when intact, 1 with a torn tail.
	cliRun(t, []byte("\x04\x00\x00\x00\x00\x00\x00\x00abcd"), "append", "--dir", dir, "framed")
	if out, errOut, code := cliRun(t, nil, "repair", "--dir", dir, "--dry-run", "framed"); code != 0 || !strings.Contains(out, "intact") {
		t.Errorf("repair --dry-run of an intact key: exit %d\n%s%s", code, out, errOut)
	}
	cliRun(t, []byte("\x10\x00\x00\x00\x00\x00\x00\x00ab"), "append", "--dir", dir, "framed")
	if out, errOut, code := cliRun(t, nil, "repair", "--dir", dir, "--dry-run", "--all"); code != 1 || !strings.Contains(out, "1 with a torn tail") {
		t.Errorf("repair --dry-run --all with a torn key: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if out, errOut, code := cliRun(t, nil, "repair", "--dir", dir, "framed"); code != 0 || !strings.Contains(out, "dropped 10") {
		t.Errorf("repair: exit %d\n%s%s", code, out, errOut)
	}
}

// TestEnvTarget: $PARTD_STORE and $PARTD_ADDR name the store when no flag
// does, flags win, and a bad value is a usage error naming the variable.
func TestEnvTarget(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	addr := cliServer(t)
	store := "PARTD_STORE=file://" + dir
	if _, errOut, code := cliRunEnv(t, []string{store}, []byte("via env"), "append", "k"); code != 0 {
		t.Fatalf("append with $PARTD_STORE: exit %d\n%s", code, errOut)
	}
	if out, _, code := cliRun(t, nil, "get", "--dir", dir, "k"); code != 0 || out != "via env" {
		t.Errorf("the append through $PARTD_STORE went elsewhere: %q", out)
	}
	// A flag wins, whichever it is.
	cliRun(t, []byte("flag"), "append", "--dir", other, "k")
	for _, flag := range [][]string{{"--dir", other}, {"--store", "file://" + other}} {
		if out, errOut, code := cliRunEnv(t, []string{store}, nil, append([]string{"get"}, append(flag, "k")...)...); code != 0 || out != "flag" {
			t.Errorf("get %q with $PARTD_STORE set: exit %d, %q\n%s", flag, code, out, errOut)
		}
	}
	if _, errOut, code := cliRunEnv(t, []string{"PARTD_ADDR=" + addr}, []byte("server"), "append", "k"); code != 0 {
		t.Fatalf("append with $PARTD_ADDR: exit %d\n%s", code, errOut)
	}
	if out, _, code := cliRun(t, nil, "get", "--addr", addr, "k"); code != 0 || out != "server" {
		t.Errorf("the append through $PARTD_ADDR went elsewhere: %q", out)
	}
	if out, _, code := cliRunEnv(t, []string{"PARTD_ADDR=" + addr}, nil, "get", "--dir", dir, "k"); code != 0 || out != "via env" {
		t.Errorf("--dir with $PARTD_ADDR set read %q", out)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"PARTD_STORE=s3://bucket"}, "$PARTD_STORE"},
		{[]string{"PARTD_STORE=file://relative"}, "$PARTD_STORE"},
		{[]string{"PARTD_ADDR=127.0.0.1:5555"}, "$PARTD_ADDR"},
		{[]string{"PARTD_ADDR=mem://"}, "$PARTD_ADDR"},
		{[]string{store, "PARTD_ADDR=" + addr}, "both $PARTD_STORE and $PARTD_ADDR"},
		{nil, "$PARTD_STORE"}, // no store at all: the message names the variables
	} {
		if _, errOut, code := cliRunEnv(t, tc.env, nil, "keys"); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("keys with %q: exit %d, want 2 naming %s\n%s", tc.env, code, tc.want, errOut)
		}
	}
	// A bad variable is not looked at when a flag names the store.
	if _, errOut, code := cliRunEnv(t, []string{"PARTD_STORE=s3://bucket"}, nil, "keys", "--dir", dir); code != 0 {
		t.Errorf("keys --dir with a bad $PARTD_STORE: exit %d\n%s", code, errOut)
	}
	for _, c := range []string{"append", "get", "keys", "delete", "drop", "stat", "repair"} {
		out, _, _ := cliRun(t, nil, c, "--help")
		if !strings.Contains(out, "(default from $PARTD_STORE)") || !strings.Contains(out, "default from $PARTD_ADDR)") {
			t.Errorf("partd %s --help does not name the variables:\n%s", c, out)
		}
	}
}

// TestInterrupt: a signal stops a command within a second, with status
// 128+N, even one waiting for a server that does not answer or for stdin.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	for _, tc := range []struct {
		name string
		args []string
		sig  syscall.Signal
		code int
	}{
		{"get/dead-server/SIGINT", []string{"get", "--addr", dead, "--timeout", "60s", "k"}, syscall.SIGINT, 130},
		{"keys/dead-server/SIGTERM", []string{"keys", "--store", dead, "--timeout", "60s"}, syscall.SIGTERM, 143},
		{"append/stdin/SIGINT", []string{"append", "--dir", t.TempDir(), "k"}, syscall.SIGINT, 130},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(partdBinary(t), tc.args...)
			cmd.Env = cliEnv()
			stdin, err := cmd.StdinPipe() // never written: append waits
			if err != nil {
				t.Fatal(err)
			}
			defer stdin.Close()
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			waitIdle(t, cmd.Process.Pid)
			cmd.Process.Signal(tc.sig)
			start := time.Now()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
					t.Errorf("after %v: %v, want exit status %d\n%s", tc.sig, err, tc.code, stderr.String())
				}
				if d := time.Since(start); d > 1500*time.Millisecond {
					t.Errorf("took %v to stop", d)
				}
				if !strings.Contains(stderr.String(), "partd: interrupted") {
					t.Errorf("stderr %q does not say it was interrupted", stderr.String())
				}
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("still running 5s after %v\n%s", tc.sig, stderr.String())
			}
		})
	}
}

// waitIdle waits until process pid has started and sleeps, waiting for
// something (its input, a server): every poll over 150 ms finds it
// sleeping, so it has long passed its start, signal handlers included,
// however loaded the machine.
func waitIdle(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for asleep := 0; asleep < 4; {
		if time.Now().After(deadline) {
			t.Fatalf("process %d never went idle", pid)
		}
		time.Sleep(50 * time.Millisecond)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ...: the state follows the last ')'.
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "S" {
			asleep++
		} else {
			asleep = 0
		}
	}
}

// TestVersion: --version and version print the module version and the
// revision; a build without VCS information says (devel).
func TestVersion(t *testing.T) {
	t.Parallel()
	line := regexp.MustCompile(`^partd \S+ \(revision ([0-9a-f]{12}|unknown)[^)]*\) go1\.\S+ \S+/\S+\n$`)
	out1, errOut, code := cliRun(t, nil, "--version")
	if code != 0 || !line.MatchString(out1) {
		t.Errorf("partd --version: exit %d, %q\n%s", code, out1, errOut)
	}
	out2, _, code := cliRun(t, nil, "version")
	if code != 0 || out2 != out1 {
		t.Errorf("partd version: exit %d, %q; --version said %q", code, out2, out1)
	}
	out, _, code := cliRun(t, nil, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("partd version --json: exit %d, %q, %v", code, out, err)
	}
	if v.Revision != "" && !strings.Contains(out1, v.Revision[:12]) {
		t.Errorf("--version %q lacks the revision %s", out1, v.Revision)
	}
	if _, _, code := cliRun(t, nil, "version", "extra"); code != 2 {
		t.Errorf("partd version extra: exit %d, want 2", code)
	}

	// Without VCS stamping: "(devel)", "revision unknown".
	bin := filepath.Join(t.TempDir(), "partd")
	if b, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	b, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(b), "partd (devel) (revision unknown) go1.") {
		t.Errorf("--version of a build without VCS information: %q, %v", b, err)
	}
}

// TestBenchJSON: bench --json prints the figures as JSON.
func TestBenchJSON(t *testing.T) {
	t.Parallel()
	out, errOut, code := cliRun(t, nil, "bench", "--json", "--scale", "0.002", "--workload", "W1", "--stack", "dict", "--runs", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var b benchJSON
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(b.Rows) != 1 || b.Rows[0].Workload != "W1" || b.Rows[0].Stack != "dict" || b.Rows[0].Go.AppendMBps <= 0 ||
		b.Rows[0].Go.GetMBps <= 0 || b.Rows[0].Py != nil || b.Runs != 1 || !strings.Contains(b.Command, "--json") || b.Machine == "" {
		t.Errorf("bench --json = %+v", b)
	}
}

// TestServeProbesAndWarning: serve on every interface without CURVE warns;
// its --metrics listener answers /healthz and /readyz and exports the
// Buffer's figures.
func TestServeProbesAndWarning(t *testing.T) {
	t.Parallel()
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(partdBinary(t), "serve", "--addr", "tcp://0.0.0.0:*", "--memory", "64KiB", "--metrics", metrics)
	cmd.Env = cliEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadString('\n')
	go func() {
		io.Copy(io.Discard, lines)
		exited <- cmd.Wait()
	}()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	}()
	if err != nil {
		t.Fatalf("no address line: %v\n%s", err, stderr.String())
	}
	port := strings.TrimSpace(line)[strings.LastIndex(strings.TrimSpace(line), ":")+1:]
	// The warning comes before the address line, through a pipe of its own.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stderr.String(), "without CURVE") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "level=WARN") || !strings.Contains(stderr.String(), "without CURVE") {
		t.Errorf("no warning for a server on 0.0.0.0 without CURVE:\n%s", stderr.String())
	}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(p); code != 200 || body != "ok\n" {
			t.Errorf("GET %s while serving: %d %q", p, code, body)
		}
	}
	if _, errOut, code := cliRun(t, []byte(strings.Repeat("x", 100<<10)), "append", "--addr", "tcp://127.0.0.1:"+port, "big"); code != 0 {
		t.Fatalf("append: exit %d\n%s", code, errOut)
	}
	_, body := get("/metrics")
	for _, want := range []string{"partd_buffer_memory_bytes ", "partd_buffer_limit_bytes 65536", "partd_buffer_spills_total ",
		"partd_buffer_spilled_bytes_total ", "partd_buffer_spill_seconds_total ", `partd_server_errors_total{code="busy",command="get"} 0`,
		`partd_server_requests_total{command="append"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after SIGINT: %v (a server's clean stop is status 0)\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop\n%s", stderr.String())
	}

	// A loopback or ipc server gets no warning.
	for _, addr := range []string{"tcp://127.0.0.1:*", "tcp://localhost:*", "ipc://" + filepath.Join(t.TempDir(), "s")} {
		if !localAddr(strings.Replace(addr, "*", "1", 1)) {
			t.Errorf("localAddr(%q) = false", addr)
		}
	}
	for _, addr := range []string{"tcp://0.0.0.0:1", "tcp://10.1.2.3:1", "tcp://[::]:1", "tcp://eth0:1", "tcp://example.com:1"} {
		if localAddr(addr) {
			t.Errorf("localAddr(%q) = true", addr)
		}
	}
}

// TestHealthStates: /healthz and /readyz answer 503 while the store opens,
// 200 while serving, and /readyz 503 again while stopping.
func TestHealthStates(t *testing.T) {
	var h healthState
	healthz := h.probe(func(st int32) bool { return st != stateStarting })
	readyz := h.probe(func(st int32) bool { return st == stateServing })
	for _, tc := range []struct {
		state            int32
		health, ready    int
		healthBody, body string
	}{
		{stateStarting, 503, 503, "starting\n", "starting\n"},
		{stateServing, 200, 200, "ok\n", "ok\n"},
		{stateStopping, 200, 503, "ok\n", "stopping\n"},
	} {
		h.set(tc.state)
		for _, p := range []struct {
			h    http.HandlerFunc
			code int
			body string
		}{{healthz, tc.health, tc.healthBody}, {readyz, tc.ready, tc.body}} {
			rec := httptest.NewRecorder()
			p.h(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != p.code || rec.Body.String() != p.body {
				t.Errorf("state %d: %d %q, want %d %q", tc.state, rec.Code, rec.Body.String(), p.code, p.body)
			}
		}
	}
	var none *healthState
	none.set(stateServing) // no --metrics: nothing to do
}
