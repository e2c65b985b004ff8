package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func listenT(t testing.TB, opts Options) *Router {
	t.Helper()
	r, err := Listen("tcp://127.0.0.1:*", opts)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

func dial(t testing.TB, addr string, opts Options) *Dealer {
	t.Helper()
	d, err := Dial(addr, opts)
	must(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

func recvMsg(t testing.TB, r *Router) Msg {
	t.Helper()
	select {
	case m := <-r.Incoming():
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return Msg{}
}

func soon() time.Time { return time.Now().Add(10 * time.Second) }

// echo answers every message of r with its own frames until r closes.
func echo(r *Router) {
	for m := range r.Incoming() {
		r.Send(m.Peer, m.Frames)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, network := range []string{"tcp", "ipc"} {
		t.Run(network, func(t *testing.T) {
			var r *Router
			if network == "tcp" {
				r = listenT(t, Options{})
			} else {
				var err error
				r, err = Listen("ipc://"+filepath.Join(t.TempDir(), "s"), Options{})
				must(t, err)
				defer r.Close()
			}
			d := dial(t, r.Addr(), Options{})
			big := bytes.Repeat([]byte("0123456789"), 700_000)
			msgs := [][][]byte{{[]byte("hello")}, {nil}, {[]byte("a"), nil, big, []byte("z")}}
			for _, msg := range msgs {
				must(t, d.Send(nil, nil, soon(), msg))
				m := recvMsg(t, r)
				if len(m.Frames) != len(msg) || m.Truncated {
					t.Fatalf("got %d frames, want %d", len(m.Frames), len(msg))
				}
				for i := range msg {
					if !bytes.Equal(m.Frames[i], msg[i]) {
						t.Fatalf("frame %d differs", i)
					}
				}
				must(t, r.Send(m.Peer, append([][]byte{[]byte("re")}, m.Frames...)))
				got, err := d.Recv(nil, nil, soon())
				must(t, err)
				if len(got) != len(msg)+1 || string(got[0]) != "re" {
					t.Fatalf("reply of %d frames", len(got))
				}
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	r := listenT(t, Options{})
	d := dial(t, r.Addr(), Options{Identity: []byte("me")})
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("x")}))
	if m := recvMsg(t, r); string(m.Peer) != "me" {
		t.Fatalf("peer %q", m.Peer)
	}
	// A second peer with the same routing id is refused, as libzmq does.
	d2 := dial(t, r.Addr(), Options{Identity: []byte("me")})
	d2.Send(nil, nil, time.Now().Add(300*time.Millisecond), [][]byte{[]byte("y")})
	select {
	case m := <-r.Incoming():
		t.Fatalf("duplicate id delivered %q", m.Frames)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestTruncated(t *testing.T) {
	r := listenT(t, Options{MaxMessageSize: 1000, FrameOverhead: 10})
	d := dial(t, r.Addr(), Options{})
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("cmd"), make([]byte, 900), make([]byte, 5000), []byte("tail")}))
	m := recvMsg(t, r)
	if !m.Truncated || m.Size != 3+900+5000+4+40 || len(m.Frames) != 2 {
		t.Fatalf("Truncated %v Size %d frames %d", m.Truncated, m.Size, len(m.Frames))
	}
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("next")}))
	if m := recvMsg(t, r); m.Truncated || string(m.Frames[0]) != "next" {
		t.Fatalf("next message %+v", m)
	}
}

// rawConn connects to r and completes a handshake by hand.
func rawConn(t testing.TB, addr string, handshake bool) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr[len("tcp://"):])
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	if handshake {
		_, err = nc.Write(append(append([]byte(nil), greeting...), appendReady(nil, "DEALER", nil)...))
		must(t, err)
		buf := make([]byte, GreetingSize)
		nc.SetReadDeadline(soon())
		_, err = io.ReadFull(nc, buf)
		must(t, err)
		h := make([]byte, 2)
		_, err = io.ReadFull(nc, h)
		must(t, err)
		_, err = io.ReadFull(nc, make([]byte, h[1]))
		must(t, err)
		nc.SetReadDeadline(time.Time{})
	}
	return nc
}

// expectClosed waits for the server to close nc.
func expectClosed(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(soon())
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection open")
	}
}

// TestHugeFrameHeader: a frame header claiming 2^62 bytes, right after the
// handshake, closes that connection without allocating; others are served.
func TestHugeFrameHeader(t *testing.T) {
	r := listenT(t, Options{MaxFrameSize: 1 << 20})
	go echo(r)
	for _, hdr := range [][]byte{
		binary.BigEndian.AppendUint64([]byte{2}, 1<<62),
		binary.BigEndian.AppendUint64([]byte{6}, 1<<62),            // a command
		binary.BigEndian.AppendUint64([]byte{2}, 1<<63),            // top bit
		binary.BigEndian.AppendUint64([]byte{2}, 1<<20+1),          // one over the cap
		binary.BigEndian.AppendUint64([]byte{6}, MaxCommandSize+1), // a large command
	} {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		nc := rawConn(t, r.Addr(), true)
		_, err := nc.Write(hdr)
		must(t, err)
		expectClosed(t, nc)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
			t.Errorf("header % x: %d bytes allocated", hdr, d)
		}
	}
	// Without the handshake: a greeting then a huge READY.
	nc := rawConn(t, r.Addr(), false)
	nc.Write(append(append([]byte(nil), greeting...), binary.BigEndian.AppendUint64([]byte{6}, 1<<62)...))
	expectClosed(t, nc)
	d := dial(t, r.Addr(), Options{})
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("still here")}))
	if m, err := d.Recv(nil, nil, soon()); err != nil || string(m[0]) != "still here" {
		t.Fatalf("%q %v", m, err)
	}
}

// TestIdleHandshake: connections that never finish their handshake block
// no other client, and are dropped at the handshake timeout.
func TestIdleHandshake(t *testing.T) {
	r := listenT(t, Options{HandshakeTimeout: 500 * time.Millisecond})
	go echo(r)
	var idle []net.Conn
	for range 10 {
		idle = append(idle, rawConn(t, r.Addr(), false))
	}
	half := rawConn(t, r.Addr(), false)
	half.Write(greeting[:20])
	start := time.Now()
	d := dial(t, r.Addr(), Options{})
	must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("x")}))
	_, err := d.Recv(nil, nil, soon())
	must(t, err)
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Fatalf("a client behind idle handshakes took %v", el)
	}
	for _, nc := range append(idle, half) {
		expectClosed(t, nc)
	}
	if st := r.Stats(); st.FailedHandshakes < 11 {
		t.Fatalf("stats %+v", st)
	}
}

// fdCount is the number of open descriptors of the process (Linux).
func fdCount(t testing.TB) int {
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(des)
}

// TestFailedHandshakesLeakNothing: many failed handshakes of every kind
// leave no descriptor open.
func TestFailedHandshakesLeakNothing(t *testing.T) {
	r := listenT(t, Options{HandshakeTimeout: 200 * time.Millisecond})
	before := fdCount(t)
	curve := append([]byte(nil), greeting...)
	copy(curve[12:], "CURVE")
	bad := [][]byte{
		nil, []byte("GET / HTTP/1.0\r\n\r\n"), curve, greeting[:30],
		append(append([]byte(nil), greeting...), appendReady(nil, "PUB", nil)...),
		append(append([]byte(nil), greeting...), 0, 1, 'x'),
	}
	for i := range 300 {
		nc, err := net.Dial("tcp", r.Addr()[len("tcp://"):])
		must(t, err)
		nc.Write(bad[i%len(bad)])
		if i%2 == 0 {
			nc.Close()
		} else {
			defer nc.Close()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.Stats()
		if st.Conns == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections still open: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Our own ends of the odd connections are still open: 150.
	if after := fdCount(t); after > before+150+5 {
		t.Fatalf("%d descriptors before, %d after", before, after)
	}
}

func TestCurveRefused(t *testing.T) {
	r := listenT(t, Options{})
	curve := append([]byte(nil), greeting...)
	copy(curve[12:], "CURVE")
	nc := rawConn(t, r.Addr(), false)
	nc.Write(curve)
	expectClosed(t, nc)
	_, err := ParseGreeting(curve)
	if !errors.Is(err, ErrSecurity) {
		t.Fatalf("CURVE greeting: %v", err)
	}
}

func TestPingPong(t *testing.T) {
	r := listenT(t, Options{})
	nc := rawConn(t, r.Addr(), true)
	_, err := nc.Write(appendCommand(nil, "PING", []byte{0, 10, 'c', 't', 'x'}))
	must(t, err)
	want := appendCommand(nil, "PONG", []byte("ctx"))
	got := make([]byte, len(want))
	nc.SetReadDeadline(soon())
	_, err = io.ReadFull(nc, got)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

// TestHWM: a peer that does not read gets at most SendHWM messages queued;
// the rest are dropped, and the sender never waits.
func TestHWM(t *testing.T) {
	r := listenT(t, Options{SendHWM: 10, WriteTimeout: 300 * time.Millisecond})
	nc := rawConn(t, r.Addr(), true)
	nc.Write(appendFrameHeader(nil, 1, false, false))
	nc.Write([]byte("x"))
	m := recvMsg(t, r)
	big := make([]byte, 1<<20)
	var dropped int
	start := time.Now()
	for range 200 {
		if err := r.Send(m.Peer, [][]byte{big}); errors.Is(err, ErrHWM) {
			dropped++
		}
	}
	if dropped == 0 || time.Since(start) > time.Second {
		t.Fatalf("dropped %d in %v", dropped, time.Since(start))
	}
	// The write timeout then closes the connection.
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Peers > 0 {
		if time.Now().After(deadline) {
			t.Fatal("a peer that does not read is still connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConns(t *testing.T) {
	r := listenT(t, Options{MaxConns: 3})
	for range 3 {
		rawConn(t, r.Addr(), true)
	}
	nc := rawConn(t, r.Addr(), false)
	expectClosed(t, nc)
}

func TestDealerReconnects(t *testing.T) {
	r := listenT(t, Options{})
	addr := r.Addr()
	d := dial(t, addr, Options{})
	must(t, d.Connected(nil, nil, soon()))
	r.Close()
	if err := d.Send(nil, nil, time.Now().Add(200*time.Millisecond), [][]byte{[]byte("lost")}); err != nil && !errors.Is(err, ErrTimeout) {
		t.Fatal(err)
	}
	r2, err := Listen(addr, Options{})
	must(t, err)
	defer r2.Close()
	go echo(r2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		must(t, d.Send(nil, nil, soon(), [][]byte{[]byte("again")}))
		m, err := d.Recv(nil, nil, time.Now().Add(time.Second))
		if err == nil && string(m[0]) == "again" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer after the restart: %v", err)
		}
	}
}

func TestDealerTimeouts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := fmt.Sprintf("tcp://%s", l.Addr())
	l.Close()
	d := dial(t, addr, Options{})
	start := time.Now()
	if err := d.Send(nil, nil, time.Now().Add(200*time.Millisecond), [][]byte{[]byte("x")}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Send with nothing listening: %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	if _, err := d.Recv(stop, nil, soon()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv with stop closed: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("slow")
	}
	d.Close()
	if _, err := d.Recv(nil, nil, soon()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
}

func TestEndpoints(t *testing.T) {
	for _, ep := range []string{"", "tcp://", "tcp://host", "udp://x:1", "tcp://*:1"} {
		if _, err := Dial(ep, Options{}); err == nil {
			t.Errorf("Dial %q accepted", ep)
		}
	}
	r, err := Listen("tcp://*:*", Options{})
	must(t, err)
	r.Close()
	// A stale ipc socket file is replaced, a live one is not.
	path := filepath.Join(t.TempDir(), "s")
	r1, err := Listen("ipc://"+path, Options{})
	must(t, err)
	if _, err := Listen("ipc://"+path, Options{}); err == nil {
		t.Fatal("bound a live ipc endpoint twice")
	}
	r1.Close()
	l, err := net.Listen("unix", path)
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	r2, err := Listen("ipc://"+path, Options{})
	must(t, err)
	r2.Close()
}
