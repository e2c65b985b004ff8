package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

func FuzzGreeting(f *testing.F) {
	f.Add(greeting)
	curve := append([]byte(nil), greeting...)
	copy(curve[12:32], "CURVE\x00\x00\x00")
	f.Add(curve)
	old := append([]byte(nil), greeting...)
	old[10] = 2
	f.Add(old)
	f.Add([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGreeting(b)
		if err == nil && (g.Major < 3 || g.Mechanism != "NULL" || len(b) != GreetingSize) {
			t.Fatalf("accepted %+v from % x", g, b)
		}
	})
}

func FuzzFrame(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{1, 3, 'a', 'b', 'c'})
	f.Add([]byte{2, 0x40, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Add([]byte{4, 5, 4, 'P', 'I', 'N', 'G'})
	f.Add([]byte{6, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add(appendCommand(nil, "PING", []byte{0, 10, 'x'}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := ParseFrameHeader(b)
		if err != nil || !ok {
			return
		}
		if h.Len != 2 && h.Len != 9 || h.Size>>63 != 0 || h.More && h.Command {
			t.Fatalf("header %+v from % x", h, b)
		}
		// The same bytes through a connection's reader, with a small cap:
		// nothing large is allocated and nothing panics.
		c := &conn{r: bufio.NewReader(bytes.NewReader(b)), opts: &Options{MaxFrameSize: 1 << 10, MaxMessageSize: 512, FrameOverhead: 8, WriteTimeout: time.Second}}
		c.nc = nopConn{}
		c.w = bufio.NewWriter(&bytes.Buffer{})
		for range 8 {
			m, err := c.readMsg()
			if err != nil {
				return
			}
			var n int64
			for _, f := range m.Frames {
				n += int64(len(f))
			}
			if n > 512 {
				t.Fatalf("kept %d bytes of a message over a cap of 512", n)
			}
		}
	})
}

func FuzzReady(f *testing.F) {
	f.Add(appendReady(nil, "DEALER", nil)[2:])
	f.Add(appendReady(nil, "ROUTER", []byte("id"))[2:])
	f.Add([]byte{5, 'R', 'E', 'A', 'D', 'Y', 1, 'x', 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		name, data, err := ParseCommand(body)
		if err != nil {
			return
		}
		if 1+len(name)+len(data) != len(body) {
			t.Fatalf("command %q with %d bytes from %d", name, len(data), len(body))
		}
		props, err := ParseReady(data)
		if err != nil {
			return
		}
		var n int
		for k, v := range props {
			n += 1 + len(k) + 4 + len(v)
		}
		if n != len(data) {
			t.Fatalf("properties of %d bytes from %d", n, len(data))
		}
	})
}

// FuzzHandshake feeds arbitrary bytes to a ROUTER's handshake: it ends with
// an error or a connection, never a panic or a large allocation.
func FuzzHandshake(f *testing.F) {
	ok := append(append([]byte(nil), greeting...), appendReady(nil, "DEALER", []byte("me"))...)
	f.Add(ok)
	f.Add(append(append([]byte(nil), greeting...), 2, 0x40, 0, 0, 0, 0, 0, 0, 0))
	f.Add(append(append([]byte(nil), greeting...), 6, 0x40, 0, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			b.Write(in)
			b.Close()
		}()
		go func() { // drain what the handshake writes
			buf := make([]byte, 512)
			for {
				if _, err := b.Read(buf); err != nil {
					return
				}
			}
		}()
		opts := Options{HandshakeTimeout: time.Second}.withDefaults()
		c, err := handshake(a, &opts, "ROUTER", nil)
		if err == nil && len(c.identity) > 255 {
			t.Fatalf("identity of %d bytes", len(c.identity))
		}
	})
}

// nopConn stands in for a connection's writes in FuzzFrame (PONGs).
type nopConn struct{ net.Conn }

func (nopConn) SetWriteDeadline(time.Time) error { return nil }
func (nopConn) Write(b []byte) (int, error)      { return len(b), nil }

func TestFrameHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 1 << 20} {
		for _, more := range []bool{false, true} {
			b := appendFrameHeader(nil, n, more, false)
			h, ok, err := ParseFrameHeader(b)
			if err != nil || !ok || int(h.Size) != n || h.More != more || h.Len != len(b) {
				t.Fatalf("%d %v: %+v %v %v", n, more, h, ok, err)
			}
		}
	}
	huge := binary.BigEndian.AppendUint64([]byte{2}, 1<<62)
	if h, ok, err := ParseFrameHeader(huge); err != nil || !ok || h.Size != 1<<62 {
		t.Fatalf("2^62 header: %+v %v %v", h, ok, err)
	}
}
