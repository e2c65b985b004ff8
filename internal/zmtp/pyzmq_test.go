package zmtp

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// python returns an interpreter with pyzmq: $PARTD_PYTHON, else
// /usr/bin/python3 (scripts/deps.sh installs python3-zmq there).
func python(t *testing.T) string {
	t.Helper()
	py := os.Getenv("PARTD_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if out, err := exec.Command(py, "-c", "import zmq").CombinedOutput(); err != nil {
		t.Fatalf("pyzmq is required (scripts/deps.sh, or set PARTD_PYTHON): %s: %v\n%s", py, err, out)
	}
	return py
}

// pyDealer is a pyzmq DEALER that sends three messages, a large one among
// them, and prints what comes back.
const pyDealer = `
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.HEARTBEAT_IVL, 20)
s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 2000)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.connect(sys.argv[1])
for msg in ([b"one"], [b"two", b"", b"x" * 2000000], [b"three"]):
    s.send_multipart(msg)
    got = s.recv_multipart()
    print(len(got), got[0].decode(), sum(len(f) for f in got), flush=True)
`

func TestPyzmqDealer(t *testing.T) {
	py := python(t)
	r := listenT(t, Options{})
	go echo(r)
	out, err := exec.Command(py, "-c", pyDealer, r.Addr()).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "1 one 3\n3 two 2000003\n1 three 5\n"
	if string(out) != want {
		t.Fatalf("pyzmq DEALER printed %q, want %q", out, want)
	}
}

// pyRouter is a pyzmq ROUTER that prints its endpoint, then echoes two
// messages with a prefix frame.
const pyRouter = `
import zmq
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 1000)
s.setsockopt(zmq.RCVTIMEO, 10000)
s.bind("tcp://127.0.0.1:*")
print(s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
for _ in range(2):
    msg = s.recv_multipart()
    s.send_multipart([msg[0], b"py"] + msg[1:])
`

func TestPyzmqRouter(t *testing.T) {
	py := python(t)
	cmd := exec.Command(py, "-c", pyRouter)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	d := dial(t, strings.TrimSpace(line), Options{})
	big := bytes.Repeat([]byte("z"), 1<<20)
	for _, msg := range [][][]byte{{[]byte("a")}, {[]byte("b"), big}} {
		must(t, d.Send(nil, nil, time.Now().Add(10*time.Second), msg))
		got, err := d.Recv(nil, nil, time.Now().Add(10*time.Second))
		if err != nil {
			t.Fatalf("%v: %s", err, stderr.String())
		}
		if len(got) != len(msg)+1 || string(got[0]) != "py" || !bytes.Equal(got[len(got)-1], msg[len(msg)-1]) {
			t.Fatalf("got %d frames", len(got))
		}
	}
}
