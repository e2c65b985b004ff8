package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/storeuri"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

// partdBinary builds the real partd command once per test run.
func partdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "partd-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "partd")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeBinary runs `partd serve`, talks to it with the Go client, stops
// it with a signal, and checks a clean exit with the data on disk.
func TestServeBinary(t *testing.T) {
	bin := partdBinary(t)
	for _, tc := range []struct {
		name   string
		addr   func(dir string) string
		sig    syscall.Signal
		policy string // the default, log, or file
	}{
		{"tcp/SIGTERM/log", func(string) string { return "tcp://127.0.0.1:*" }, syscall.SIGTERM, ""},
		{"ipc/SIGINT/file", func(dir string) string { return "ipc://" + filepath.Join(dir, "s") }, syscall.SIGINT, "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sockDir, err := os.MkdirTemp("/tmp", "partd-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(sockDir)
			metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := []string{"serve", "--dir", dir, "--addr", tc.addr(sockDir), "--memory", "256KiB", "--metrics", metrics}
			if tc.policy != "" {
				args = append(args, "--policy", tc.policy)
			}
			cmd := exec.Command(bin, args...)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			addrLine := make(chan string, 1)
			exited := make(chan error, 1)
			go func() {
				lines := bufio.NewReader(stdout)
				line, _ := lines.ReadString('\n')
				addrLine <- strings.TrimSpace(line)
				io.Copy(io.Discard, lines) // keep draining until the process exits
				exited <- cmd.Wait()
			}()
			defer func() {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
				}
			}()
			var addr string
			select {
			case addr = <-addrLine:
			case <-time.After(30 * time.Second):
				t.Fatalf("partd serve printed no address; stderr:\n%s", stderr.String())
			}
			if !strings.HasPrefix(addr, "tcp://127.0.0.1:") && !strings.HasPrefix(addr, "ipc://") || strings.HasSuffix(addr, "*") {
				t.Fatalf("address line %q", addr)
			}

			c, err := client.Dial(addr, client.WithTimeout(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := map[string][]byte{}
			for i := range 40 {
				k := fmt.Sprintf("part/%02d", i)
				v := bytes.Repeat([]byte{byte(i)}, 20_000) // 800 kB in all: some spill, some stay in memory
				if err := c.Append(map[string][]byte{k: v}); err != nil {
					t.Fatal(err)
				}
				want[k] = v
			}
			if err := c.Append(map[string][]byte{"small": []byte("in memory until shutdown")}); err != nil {
				t.Fatal(err)
			}
			want["small"] = []byte("in memory until shutdown")
			keys, err := c.Keys()
			if err != nil || len(keys) != len(want) {
				t.Fatalf("Keys: %d keys, %v", len(keys), err)
			}
			st, err := c.Stat()
			if err != nil || st.Requests["append"] != 41 {
				t.Fatalf("Stat: %+v, %v", st, err)
			}
			resp, err := http.Get("http://" + metrics + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(body, []byte(`partd_server_requests_total{command="append"} 41`)) {
				t.Fatalf("metrics lack the append count:\n%.2000s", body)
			}

			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("partd serve exited with %v; stderr:\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("partd serve did not exit after %v; stderr:\n%s", tc.sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "stopped cleanly") {
				t.Errorf("no clean-stop log line:\n%s", stderr.String())
			}
			if strings.Contains(stderr.String(), "without CURVE") {
				t.Errorf("a warning about CURVE for a loopback or ipc server:\n%s", stderr.String())
			}
			if err := c.Ping(); !errors.Is(err, client.ErrTimeout) {
				t.Errorf("Ping after the server exited: %v", err)
			}

			var f partd.Store
			if tc.policy == "file" {
				f, err = partd.NewFile(dir)
			} else {
				f, err = partd.NewLog(dir)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for k, v := range want {
				got, err := f.Get(k)
				if err != nil || !bytes.Equal(got[0], v) {
					t.Fatalf("on disk %q: %d bytes, %v; want %d bytes", k, len(got[0]), err, len(v))
				}
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's writer and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestServeExitCodes(t *testing.T) {
	bin := partdBinary(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"serve", "--no-such-flag"}, 2},
		{[]string{"serve", "--memory", "lots"}, 2},
		{[]string{"serve", "extra-arg"}, 2},
		{[]string{"serve", "--store", "s3://bucket"}, 2},
		{[]string{"serve", "--store", "mem://", "--dir", "/tmp/x"}, 2},
		{[]string{"serve", "--policy", "lsm"}, 2},
		{[]string{"no-such-command"}, 2},
		{[]string{"serve", "--curve-secret", "@/nonexistent/key"}, 2},
		{[]string{"serve", "--addr", "bogus://x"}, 1},
		{[]string{"serve", "--curve-secret", "tooshort", "--curve-allow", "*"}, 1},
		{[]string{"--help"}, 0},
	} {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("partd %q: exit %d, want %d\n%s", tc.args, code, tc.code, out)
		}
	}
}

// TestServeStoreURI serves a store named by URI, a zstd layer over a
// Buffer over a File, and reads it back through a plain client and a
// zstd one.
func TestServeStoreURI(t *testing.T) {
	dir := t.TempDir()
	addr := startServe(t, "--store", "file://"+dir+"?memory=64&compress=zstd").addr
	value := strings.Repeat("spilled through a buffer and zstd; ", 10)
	if _, errOut, code := cliRun(t, []byte(value), "append", "--addr", addr, "k"); code != 0 {
		t.Fatalf("append: exit %d: %s", code, errOut)
	}
	if out, errOut, code := cliRun(t, nil, "get", "--addr", addr, "k"); code != 0 || out != value {
		t.Fatalf("get: exit %d, %d bytes, %s", code, len(out), errOut)
	}
	// The server's store compressed the value and spilled it to dir.
	fi, err := os.Stat(filepath.Join(dir, "k"))
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(value)) {
		t.Fatalf("k on disk: %v, %v; want zstd frames smaller than %d bytes", fi, err, len(value))
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "1GiB": 1 << 30, "1gib": 1 << 30, "512KiB": 512 << 10, "64MB": 64e6,
		"1.5GB": 1.5e9, "2G": 2 << 30, "10 MiB": 10 << 20, "100B": 100,
	} {
		if got, err := storeuri.ParseSize(in); err != nil || got != want {
			t.Errorf("storeuri.ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1", "1XB", "GiB", "1e30GiB"} {
		if _, err := storeuri.ParseSize(in); err == nil {
			t.Errorf("storeuri.ParseSize(%q) accepted", in)
		}
	}
}
