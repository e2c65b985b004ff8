package server_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server"
)

// Raw ZMTP attacks on the server's TCP port, by hand, below any ZeroMQ
// library: they run in both builds (libzmq's and the pure-Go one), which
// must both pass them.

// zmtpGreeting is a ZMTP 3.0 greeting with the NULL mechanism.
func zmtpGreeting(mechanism string) []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10] = 0xff, 0x7f, 3
	copy(g[12:32], mechanism)
	return g
}

// zmtpReady is a READY command of a DEALER.
func zmtpReady() []byte {
	var d []byte
	d = append(d, 5)
	d = append(d, "READY"...)
	d = append(d, 11)
	d = append(d, "Socket-Type"...)
	d = binary.BigEndian.AppendUint32(d, 6)
	d = append(d, "DEALER"...)
	return append([]byte{0x04, byte(len(d))}, d...)
}

// tcpHost is the HOST:PORT of a tcp:// endpoint.
func tcpHost(t testing.TB, addr string) string {
	t.Helper()
	host, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		t.Fatalf("not a tcp:// address: %s", addr)
	}
	return host
}

// zmtpHandshake connects to addr and completes the handshake by hand.
func zmtpHandshake(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", tcpHost(t, addr))
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	_, err = nc.Write(append(zmtpGreeting("NULL"), zmtpReady()...))
	must(t, err)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	_, err = io.ReadFull(nc, buf)
	must(t, err)
	// The server's READY: a short command.
	_, err = io.ReadFull(nc, buf[:2])
	must(t, err)
	if buf[0] != 0x04 {
		t.Fatalf("server's READY has flags %#x", buf[0])
	}
	_, err = io.ReadFull(nc, make([]byte, buf[1]))
	must(t, err)
	nc.SetReadDeadline(time.Time{})
	return nc
}

// expectDropped waits up to 10s for the server to close nc.
func expectDropped(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
}

// stillServes checks that a fresh Go client is answered within d.
func stillServes(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	start := time.Now()
	c := dial(t, addr)
	must(t, c.Append(map[string][]byte{"alive": []byte("x")}))
	mustGet(t, c, "alive")
	if el := time.Since(start); el > d {
		t.Fatalf("a client took %v to be served", el)
	}
}

// TestAttackHugeFrame: a frame header claiming 2^62 bytes, after the
// handshake (or in place of READY), closes that connection and nothing
// else: the server does not try to allocate it.
func TestAttackHugeFrame(t *testing.T) {
	s := startServer(t, partd.NewDict(), "", server.WithMaxMessageSize(1<<20))
	for _, flags := range []byte{0x02, 0x03, 0x06} { // a message, with MORE, a command
		nc := zmtpHandshake(t, s.Addr())
		_, err := nc.Write(binary.BigEndian.AppendUint64([]byte{flags}, 1<<62))
		must(t, err)
		nc.Write(make([]byte, 4096))
		expectDropped(t, nc)
	}
	nc, err := net.Dial("tcp", tcpHost(t, s.Addr()))
	must(t, err)
	defer nc.Close()
	nc.Write(append(zmtpGreeting("NULL"), binary.BigEndian.AppendUint64([]byte{0x06}, 1<<62)...))
	expectDropped(t, nc)
	stillServes(t, s.Addr(), 5*time.Second)
}

// TestAttackIdleHandshakes: connections that never finish (or never start)
// their handshake do not keep other clients waiting.
func TestAttackIdleHandshakes(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	for i := range 32 {
		nc, err := net.Dial("tcp", tcpHost(t, s.Addr()))
		must(t, err)
		defer nc.Close()
		switch i % 3 {
		case 1:
			nc.Write(zmtpGreeting("NULL")[:11]) // half a greeting
		case 2:
			nc.Write(zmtpGreeting("NULL")) // a greeting, no READY
		}
	}
	stillServes(t, s.Addr(), 3*time.Second)
}

// TestAttackPing: a PING is answered with a PONG carrying its context.
func TestAttackPing(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	nc := zmtpHandshake(t, s.Addr())
	ping := append([]byte{0x04, 1 + 4 + 2 + 3, 4}, "PING"...)
	ping = append(ping, 0, 0, 'a', 'b', 'c')
	_, err := nc.Write(ping)
	must(t, err)
	want := append([]byte{0x04, 1 + 4 + 3, 4}, "PONGabc"...)
	got := make([]byte, len(want))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadFull(nc, got)
	must(t, err)
	if string(got) != string(want) {
		t.Fatalf("PING answered % x, want % x", got, want)
	}
}

// openFDs counts the process's open descriptors (Linux).
func openFDs(t testing.TB) int {
	t.Helper()
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(des)
}

// settleFDs waits for the descriptor count to come down to at most want.
func settleFDs(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n := openFDs(t)
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d descriptors open, want at most %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAttackFailedHandshakesLeakNothing: many failed handshakes of every
// kind leave no descriptor open in the server's process.
func TestAttackFailedHandshakesLeakNothing(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	stillServes(t, s.Addr(), 5*time.Second)
	before := openFDs(t)
	bad := [][]byte{
		nil,
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		zmtpGreeting("NULL")[:20],
		zmtpGreeting("PLAIN"),
		zmtpGreeting("CURVE"),
		append(zmtpGreeting("NULL"), 0x04, 0xff), // a READY cut short
		append(zmtpGreeting("NULL"), binary.BigEndian.AppendUint64([]byte{0x06}, 1<<62)...),      // a huge READY
		append(append(zmtpGreeting("NULL"), zmtpReady()...), 0x02, 0x7f, 0xff, 0xff, 0xff, 0xff), // a huge frame, cut short
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				nc, err := net.Dial("tcp", tcpHost(t, s.Addr()))
				if err != nil {
					t.Error(err)
					return
				}
				nc.Write(bad[(g+i)%len(bad)])
				if i%2 == 0 {
					nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					io.Copy(io.Discard, nc)
				}
				nc.Close()
			}
		})
	}
	wg.Wait()
	settleFDs(t, before+2)
	stillServes(t, s.Addr(), 5*time.Second)
}

// TestConnectionStorm: many clients connect, work and go away at once,
// some abruptly, while others keep working; the server serves them all and
// is left with no more descriptors than before.
func TestConnectionStorm(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	stillServes(t, s.Addr(), 5*time.Second)
	before := openFDs(t)
	steady := dial(t, s.Addr())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := steady.Append(map[string][]byte{"steady": {byte(i)}}); err != nil {
				t.Errorf("steady client: %v", err)
				return
			}
		}
	})
	var storm sync.WaitGroup
	for g := range 16 {
		storm.Go(func() {
			for i := range 8 {
				c := dial(t, s.Addr())
				k := fmt.Sprintf("storm/%d/%d", g, i)
				if err := c.Append(map[string][]byte{k: []byte(k)}); err != nil {
					t.Errorf("storm client: %v", err)
				}
				c.Close()
				// And a connection dropped mid-message.
				nc, err := net.Dial("tcp", tcpHost(t, s.Addr()))
				if err == nil {
					nc.Write(append(append(zmtpGreeting("NULL"), zmtpReady()...), 0x01, 10, 'x'))
					nc.Close()
				}
			}
		})
	}
	storm.Wait()
	close(stop)
	wg.Wait()
	c := dial(t, s.Addr())
	keys, err := c.Keys()
	must(t, err)
	if len(keys) != 16*8+2 { // and "steady", "alive"
		t.Fatalf("%d keys after the storm, want %d", len(keys), 16*8+2)
	}
	c.Close()
	steady.Close()
	settleFDs(t, before+2)
}
