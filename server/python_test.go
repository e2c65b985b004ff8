package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
)

// python returns the interpreter that has Python partd and pyzmq: $PARTD_PYTHON,
// else /usr/bin/python3 (Debian's python3-partd), else python3 on PATH. The
// test fails, not skips, without one: CI installs them.
func python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("PARTD_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
		if _, err := os.Stat(py); err != nil {
			py = "python3"
		}
	}
	out, err := exec.Command(py, "-c", "import partd.zmq, zmq; print(partd.__version__)").CombinedOutput()
	if err != nil {
		t.Fatalf("Python partd is required (apt install python3-partd python3-zmq, or set PARTD_PYTHON): %s: %v\n%s", py, err, out)
	}
	return py
}

// runPython runs a testdata script to completion and returns its stdout.
func runPython(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	out, err := cmd.Output()
	t.Logf("python %s took %v", args, time.Since(t0))
	if err != nil {
		t.Fatalf("python %s: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.Bytes())
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	must(t, err)
	return b
}

// TestPythonClient runs Python partd's partd.zmq.Client against our server
// and compares what it sees, and what the store holds, byte for byte.
func TestPythonClient(t *testing.T) {
	store := partd.NewDict()
	s := startServer(t, store, "")

	var ops struct {
		GetX        string            `json:"get_x"`
		Multi       []string          `json:"multi"`
		Tuple       []string          `json:"tuple"`
		BigEqual    bool              `json:"big_equal"`
		AfterDelete []string          `json:"after_delete"`
		Iset        string            `json:"iset"`
		Empty       string            `json:"empty"`
		Stored      map[string]string `json:"stored"`
	}
	must(t, json.Unmarshal(runPython(t, "testdata/pyclient.py", s.Addr(), "ops"), &ops))
	if got := string(unhex(t, ops.GetX)); got != "Hello world!" {
		t.Errorf("Python get('x') = %q", got)
	}
	var multi []string
	for _, h := range ops.Multi {
		multi = append(multi, string(unhex(t, h)))
	}
	if want := []string{"Hello world!", "123456", "", "Hello world!"}; !slices.Equal(multi, want) {
		t.Errorf("Python multi-key get = %q, want %q", multi, want)
	}
	if !ops.BigEqual {
		t.Error("Python get of a 300 kB binary value came back different")
	}
	if len(ops.AfterDelete) != 3 || ops.AfterDelete[0] != "" || ops.AfterDelete[1] != "" {
		t.Errorf("after delete: %q", ops.AfterDelete)
	}
	if string(unhex(t, ops.Iset)) != "set-value" || ops.Empty != "" {
		t.Errorf("iset = %q, empty = %q", ops.Iset, ops.Empty)
	}
	if len(ops.Tuple) != 2 || ops.Tuple[0] != ops.Stored["a/b"] || ops.Tuple[1] != ops.Stored["a/c"] {
		t.Errorf("tuple keys came back as %q", ops.Tuple)
	}
	// What the store holds, byte for byte: tuple keys became "a/b".
	keys, err := store.Keys()
	must(t, err)
	wantKeys := []string{"a/b", "a/c", "big", "s", "x", "y"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("store keys = %q, want %q", keys, wantKeys)
	}
	for k, h := range ops.Stored {
		if got := mustGet(t, store, k)[0]; !bytes.Equal(got, unhex(t, h)) {
			t.Errorf("store[%q] = %d bytes, differs from what Python appended (%d bytes)", k, len(got), len(h)/2)
		}
	}
	// A Go client sees the same bytes.
	c := dial(t, s.Addr())
	if got := mustGet(t, c, "a/b")[0]; !bytes.Equal(got, unhex(t, ops.Stored["a/b"])) {
		t.Error("Go client reads a Python tuple key differently")
	}

	var drop struct {
		AfterDrop []string `json:"after_drop"`
	}
	must(t, json.Unmarshal(runPython(t, "testdata/pyclient.py", s.Addr(), "drop"), &drop))
	if !slices.Equal(drop.AfterDrop, []string{"", "", ""}) {
		t.Errorf("after drop Python got %q", drop.AfterDrop)
	}
	if keys, _ := store.Keys(); len(keys) != 0 {
		t.Errorf("store keys after Python drop: %q", keys)
	}

	// An invalid key: the next Python call raises, the one after works.
	var bad struct {
		Second string `json:"second_call"`
		Third  string `json:"third_call"`
		OK1    string `json:"ok1"`
	}
	must(t, json.Unmarshal(runPython(t, "testdata/pyclient.py", s.Addr(), "badkey"), &bad))
	if bad.Second != "AssertionError" || string(unhex(t, bad.Third)) != "2" || bad.OK1 != "" {
		t.Errorf("Python client after an invalid key: %+v", bad)
	}
	if vs := mustGet(t, store, ".."); len(vs[0]) != 0 {
		t.Error("invalid key reached the store")
	}
}

// pyServer is Python partd's partd.zmq.Server running in a child process.
type pyServer struct {
	cmd   *exec.Cmd
	stdin interface{ Close() error }
	out   *bufio.Reader
	addr  string
}

func startPyServer(t testing.TB) *pyServer {
	t.Helper()
	cmd := exec.Command(python(t), "testdata/pyserver.py")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	p := &pyServer{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("Python server did not print its port: %v", err)
	}
	p.addr = "tcp://127.0.0.1:" + strings.TrimSpace(line)
	return p
}

// stop closes the server's stdin and returns its store's contents.
func (p *pyServer) stop(t testing.TB) map[string][]byte {
	t.Helper()
	p.stdin.Close()
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("Python server did not dump its store: %v", err)
	}
	var dump map[string]string
	must(t, json.Unmarshal([]byte(line), &dump))
	out := make(map[string][]byte)
	for k, h := range dump {
		out[k] = unhex(t, h)
	}
	return out
}

// TestPythonServer runs our client against Python partd's server.
func TestPythonServer(t *testing.T) {
	py := startPyServer(t)
	c := dial(t, py.addr)
	if c.Extended() {
		t.Fatal("client thinks Python's server speaks the Go dialect")
	}
	bin := make([]byte, 256*1024)
	for i := range bin {
		bin[i] = byte(i*7 + i>>8)
	}
	must(t, c.Append(map[string][]byte{"x": []byte("Hello "), "y": []byte("123"), "t/u": bin[:1000]}))
	must(t, c.Append(map[string][]byte{"x": []byte("world!"), "y": []byte("456"), "t/u": bin[1000:]}))
	vs := mustGet(t, c, "x", "missing", "y", "t/u")
	if string(vs[0]) != "Hello world!" || vs[1] != nil || string(vs[2]) != "123456" || !bytes.Equal(vs[3], bin) {
		t.Fatalf("Get from Python server: %q %q %q (%d bytes)", vs[0], vs[1], vs[2], len(vs[3]))
	}
	if vs := mustGet(t, c); len(vs) != 0 {
		t.Fatalf("Get() = %q", vs)
	}
	must(t, c.Set("s", []byte("one")))
	must(t, c.Set("s", []byte("two"))) // ignored: Python's server-side iset is idempotent
	must(t, c.Append(map[string][]byte{"d1": []byte("x"), "d2": []byte("y")}))
	must(t, c.Delete("d1", "never"))
	if vs := mustGet(t, c, "s", "d1", "d2"); string(vs[0]) != "one" || vs[1] != nil || string(vs[2]) != "y" {
		t.Fatalf("after Set/Delete: %q", vs)
	}
	if _, err := c.Keys(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Keys on Python server: %v, want ErrUnsupported", err)
	}
	if _, err := c.Stat(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Stat on Python server: %v, want ErrUnsupported", err)
	}
	// The attempts extension, which an older server lacks: refused, and
	// nothing is written.
	if err := c.AttemptAppend("task", 0, 1, map[string][]byte{"att": []byte("v")}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("AttemptAppend on Python server: %v, want ErrUnsupported", err)
	}
	if err := c.AttemptCommit("task", 0); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("AttemptCommit on Python server: %v, want ErrUnsupported", err)
	}
	// Keys Python's server would die on are refused locally.
	for _, k := range []string{"..", "a-|-b", "a//b", ""} {
		if err := c.Append(map[string][]byte{k: []byte("v")}); !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("Append(%q) to Python server: %v, want ErrInvalidKey", k, err)
		}
	}
	// Many goroutines at once: Python's server serializes them.
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				err = c.Append(map[string][]byte{"conc": {byte('a' + g)}})
			}
			errs <- err
		}()
	}
	for range 8 {
		must(t, <-errs)
	}
	if vs := mustGet(t, c, "conc"); len(vs[0]) != 160 {
		t.Fatalf("concurrent appends: %d bytes, want 160", len(vs[0]))
	}
	must(t, c.Delete("conc"))

	dump := py.stop(t)
	want := map[string][]byte{"x": []byte("Hello world!"), "y": []byte("123456"), "t/u": bin, "s": []byte("one"), "d2": []byte("y")}
	for k, v := range want {
		if !bytes.Equal(dump[k], v) {
			t.Errorf("Python store[%q] = %d bytes %.20q, want %.20q", k, len(dump[k]), dump[k], v)
		}
	}
	for k := range dump {
		if _, ok := want[k]; !ok && len(dump[k]) > 0 {
			t.Errorf("Python store holds unexpected key %q", k)
		}
	}
}

// TestPythonServerDrop checks Drop against Python's server.
func TestPythonServerDrop(t *testing.T) {
	py := startPyServer(t)
	c := dial(t, py.addr)
	must(t, c.Append(map[string][]byte{"a": []byte("1"), "b/c": []byte("2")}))
	must(t, c.Drop())
	if vs := mustGet(t, c, "a", "b/c"); vs[0] != nil || vs[1] != nil {
		t.Fatalf("after Drop: %q", vs)
	}
	must(t, c.Append(map[string][]byte{"a": []byte("again")}))
	if dump := py.stop(t); string(dump["a"]) != "again" || len(dump["b/c"]) != 0 {
		t.Fatalf("Python store after Drop: %q", dump)
	}
}
