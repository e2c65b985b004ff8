package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gopartd/partd/client"
)

// serveProc is a `partd serve` process started by a test.
type serveProc struct {
	cmd    *exec.Cmd
	addr   string // the address it printed
	stderr *lockedBuffer
	exited chan error // gets cmd.Wait's result
}

// startServe starts `partd serve ARGS...` (on a free loopback port unless
// ARGS give --addr) and waits for its address line. The process is killed
// when the test ends, if it still runs.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	if !strings.Contains(strings.Join(args, " "), "--addr") {
		args = append(args, "--addr", "tcp://127.0.0.1:*")
	}
	p := &serveProc{cmd: exec.Command(partdBinary(t), append([]string{"serve"}, args...)...), stderr: new(lockedBuffer), exited: make(chan error, 1)}
	p.cmd.Env = cliEnv()
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	lines := bufio.NewReader(stdout)
	addr := make(chan string, 1)
	go func() {
		line, _ := lines.ReadString('\n')
		addr <- strings.TrimSpace(line)
		io.Copy(io.Discard, lines)
		p.exited <- p.cmd.Wait()
	}()
	select {
	case p.addr = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatalf("partd serve %q printed no address; stderr:\n%s", args, p.stderr.String())
	}
	if p.addr == "" {
		<-p.exited
		t.Fatalf("partd serve %q exited without an address; stderr:\n%s", args, p.stderr.String())
	}
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("partd serve lives on after SIGKILL")
	}
}

// stop sends SIGTERM and checks a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("partd serve after SIGTERM: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("partd serve did not stop after SIGTERM\n%s", p.stderr.String())
	}
}

// procStatus returns a size field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s of %d: %q", field, pid, rest)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestServeOversizedMessage sends `partd serve --max-message 16MiB` one
// multipart message of 8 frames of 12 MiB (96 MiB, every frame under the
// cap, as a Python-dialect append sends them) through a real libzmq DEALER,
// and checks what serve --help says of it: the server answers other
// clients while it arrives, answers it with a too-large error, stays up,
// holds no more than the whole message plus two caps while it arrives
// (libzmq keeps a message until its last frame is in), and gives it all
// back after.
func TestServeOversizedMessage(t *testing.T) {
	const (
		limit  = 16 << 20
		frame  = 12 << 20
		frames = 8
		slack  = 24 << 20 // runtime, libzmq and allocator noise
	)
	p := startServe(t, "--store", "mem://", "--max-message", "16MiB")
	pid := p.cmd.Process.Pid
	other, err := client.Dial(p.addr, client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Append(map[string][]byte{"warm": bytes.Repeat([]byte("w"), 1<<20)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	base := procStatus(t, pid, "VmRSS")

	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sock.SetLinger(0)
	if err := sock.Connect(p.addr); err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("v"), frame)
	send := func(b []byte, more bool) {
		t.Helper()
		flag := zmq.Flag(0)
		if more {
			flag = zmq.SNDMORE
		}
		if _, err := sock.SendBytes(b, flag); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte("append"), true)
	for i := range frames {
		send(fmt.Appendf(nil, "k%d", i), true)
		send(value, i < frames-1)
		if i == frames/2 {
			// Half of the message is on its way: others are answered.
			time.Sleep(300 * time.Millisecond)
			if err := other.Append(map[string][]byte{"while": []byte("arriving")}); err != nil {
				t.Fatalf("another client while the large message arrives: %v", err)
			}
		}
	}
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	if polled, err := poller.Poll(30 * time.Second); err != nil || len(polled) == 0 {
		t.Fatalf("no answer to the oversized message: %v\n%s", err, p.stderr.String())
	}
	reply, err := sock.RecvMessage(0)
	if err != nil || len(reply) != 3 || reply[0] != "err" || reply[1] != "too-large" {
		t.Fatalf("answer to the oversized message: %.200q, %v", reply, err)
	}
	peak := procStatus(t, pid, "VmHWM")
	// The server is up and answers everyone, the sender too.
	if got, err := other.Get("while", "k0"); err != nil || string(got[0]) != "arriving" || len(got[1]) != 0 {
		t.Fatalf("after the oversized message: %q, %v", got, err)
	}
	// The memory goes back: within a few seconds the server holds at most
	// one cap more than before.
	var after int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if after = procStatus(t, pid, "VmRSS"); after-base <= limit+slack/2 || time.Now().After(deadline) {
			break
		}
	}
	msg := int64(frames * (frame + 2))
	t.Logf("server RSS: %.1f MiB before, peak %.1f MiB (+%.1f MiB for a %.1f MiB message, cap %d MiB), %.1f MiB after",
		mib(base), mib(peak), mib(peak-base), mib(msg), limit>>20, mib(after))
	if bound := msg + 2*limit + slack; peak-base > bound {
		t.Errorf("peak RSS %.1f MiB above the start, over the bound of %.1f MiB (the message + 2 caps)", mib(peak-base), mib(bound))
	}
	if after-base > limit+slack/2 {
		t.Errorf("RSS %.1f MiB above the start after the oversized message was refused, want at most %.1f MiB", mib(after-base), mib(limit+slack/2))
	}
	p.stop(t)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestServeDurability checks what serve --help promises of each mode with
// real SIGKILLs: 4 writers append numbered records through a Go client
// (each a batch of two keys), the server is killed mid-stream, restarted
// over the same directory, and every acknowledged append must be there (at
// most the one in flight per writer more; on a Log each batch whole); then
// once more on the store the kill left. The default mode, whose Buffer
// holds appends in memory, must lose them, as documented. It logs each
// mode's appends per second, the cost of fsync in the same run
// (PARTD_KILL_AFTER=5s for longer rounds).
func TestServeDurability(t *testing.T) {
	round := time.Second
	if d, err := time.ParseDuration(os.Getenv("PARTD_KILL_AFTER")); err == nil && d > 0 {
		round = d
	}
	for _, mode := range []struct {
		name  string
		args  func(dir string) []string
		keeps bool // what was acknowledged survives SIGKILL
		log   bool // a Log: a batch is crash-atomic
	}{
		{"default", func(dir string) []string { return []string{"--dir", dir} }, false, true},
		{"memory0/log", func(dir string) []string { return []string{"--dir", dir, "--memory", "0"} }, true, true},
		{"memory0/file", func(dir string) []string { return []string{"--dir", dir, "--memory", "0", "--policy", "file"} }, true, false},
		{"sync/log", func(dir string) []string { return []string{"--store", "log://" + dir + "?sync=1"} }, true, true},
		{"sync/file", func(dir string) []string { return []string{"--store", "file://" + dir + "?sync=true"} }, true, false},
		{"sync-flag/log", func(dir string) []string { return []string{"--dir", dir, "--memory", "0", "--sync"} }, true, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			const writers = 4
			next := make([]int, writers) // the next record number of each writer
			held := map[string][]byte{}  // what each key holds, as read after the last kill
			keys := func(w int) [2]string { return [2]string{fmt.Sprintf("w%d/a", w), fmt.Sprintf("w%d/b", w)} }
			rounds := 2
			if !mode.keeps {
				rounds = 1
			}
			var acked, took float64
			for r := range rounds {
				p := startServe(t, mode.args(dir)...)
				c, err := client.Dial(p.addr, client.WithTimeout(2*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				done := make([]int, writers) // appends acknowledged in this round
				var wg sync.WaitGroup
				start := time.Now()
				for w := range writers {
					wg.Go(func() {
						k := keys(w)
						for i := next[w]; ; i++ {
							rec := fmt.Appendf(nil, "%d,", i)
							if c.Append(map[string][]byte{k[0]: rec, k[1]: rec}) != nil {
								return
							}
							done[w]++
						}
					})
				}
				time.Sleep(round)
				p.kill(t)
				killed := time.Since(start)
				wg.Wait()
				c.Close()
				n := 0
				for w := range writers {
					n += done[w]
				}
				acked += float64(n)
				took += killed.Seconds()
				if n == 0 {
					t.Fatalf("round %d: no append acknowledged in %v\n%s", r, round, p.stderr.String())
				}

				// Restart over the same directory and read everything back.
				p = startServe(t, mode.args(dir)...)
				c, err = client.Dial(p.addr, client.WithTimeout(10*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				lost := 0
				for w := range writers {
					k := keys(w)
					got, err := c.Get(k[0], k[1])
					if err != nil {
						t.Fatal(err)
					}
					if mode.log && !bytes.Equal(got[0], got[1]) {
						t.Errorf("round %d, writer %d: a batch's two keys differ on a Log: %d and %d bytes", r, w, len(got[0]), len(got[1]))
					}
					for j, key := range k {
						want := held[key] // what it held, then this round's acknowledged appends
						for i := next[w]; i < next[w]+done[w]; i++ {
							want = fmt.Appendf(want, "%d,", i)
						}
						inFlight := fmt.Appendf(bytes.Clone(want), "%d,", next[w]+done[w])
						switch {
						case bytes.Equal(got[j], want), bytes.Equal(got[j], inFlight):
						case mode.keeps:
							t.Fatalf("round %d, %s: after SIGKILL the store holds %d bytes, ending %q; want the %d acknowledged appends (%d bytes), ending %q",
								r, key, len(got[j]), got[j][max(0, len(got[j])-40):], done[w], len(want), want[max(0, len(want)-40):])
						case bytes.HasPrefix(want, got[j]) && j == 0:
							lost += bytes.Count(want[len(got[j]):], []byte(","))
						case !bytes.HasPrefix(want, got[j]):
							t.Fatalf("round %d, %s: the store holds %q…, not a prefix of what was appended", r, key, got[j][:min(80, len(got[j]))])
						}
						held[key] = got[j]
					}
					next[w] += done[w] + 1 // past the one in flight, applied or not
				}
				c.Close()
				p.stop(t)
				if !mode.keeps && lost == 0 {
					t.Errorf("the default mode kept every append through SIGKILL: serve --help says a crash loses what is in memory")
				}
				t.Logf("round %d: %d appends acknowledged, %d of them lost after SIGKILL", r, n, lost)
			}
			t.Logf("%s: %.0f appends/s (4 writers, batches of 2 keys)", mode.name, acked/took)
		})
	}
}
