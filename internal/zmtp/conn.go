package zmtp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Options configure a Router or a Dealer. The zero value of a field is its
// default.
type Options struct {
	// MaxFrameSize is the largest frame accepted: a peer that announces a
	// larger one is disconnected before anything is allocated for it.
	// Default DefaultMaxFrameSize.
	MaxFrameSize int64
	// MaxMessageSize caps a message's Size (its frames' bytes plus
	// FrameOverhead each): frames past it are read and dropped and the
	// message is delivered with Truncated set. 0: no cap beyond
	// MaxFrameSize per frame.
	MaxMessageSize int64
	// FrameOverhead is what each frame costs against MaxMessageSize on top
	// of its bytes, so that many empty frames count too.
	FrameOverhead int64
	// HandshakeTimeout bounds the greeting and READY exchange of a new
	// connection. Default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write to a peer of a Router; a peer that
	// does not read for that long is disconnected. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SendHWM is how many messages a Router queues for one peer (more are
	// dropped), and how many received messages a Dealer holds. Default
	// DefaultSendHWM.
	SendHWM int
	// MaxConns is how many connections a Router has at once, handshakes
	// under way included; more are closed as soon as they are accepted.
	// Default DefaultMaxConns.
	MaxConns int
	// Identity is a Dealer's routing id, sent in its READY command (at
	// most 255 bytes); empty lets the Router pick one.
	Identity []byte
	// Logf, if not nil, is told why connections were dropped.
	Logf func(format string, args ...any)
}

// Defaults of Options.
const (
	DefaultMaxFrameSize     = 256 << 20
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	DefaultSendHWM          = 1000
	DefaultMaxConns         = 4096
)

func (o Options) withDefaults() Options {
	if o.MaxFrameSize <= 0 {
		o.MaxFrameSize = DefaultMaxFrameSize
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.SendHWM <= 0 {
		o.SendHWM = DefaultSendHWM
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	return o
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Msg is a message received by a Router.
type Msg struct {
	// Peer is the routing id of the connection it came from.
	Peer []byte
	// Frames are the message's frames; of a Truncated message, only those
	// that arrived before it went over the cap.
	Frames [][]byte
	// Size is the message's frames' bytes plus FrameOverhead per frame, all
	// of them counted, the dropped ones too.
	Size int64
	// Truncated says the message was larger than MaxMessageSize.
	Truncated bool
}

// ErrClosed is returned by the methods of a closed Router or Dealer.
var ErrClosed = errors.New("zmtp: socket closed")

// ErrTimeout is returned by a Dealer's Send or Recv at its deadline.
var ErrTimeout = errors.New("zmtp: timeout")

// conn is one connection after its handshake.
type conn struct {
	nc       net.Conn
	r        *bufio.Reader
	opts     *Options
	identity []byte // the peer's Identity property

	wmu sync.Mutex // guards w and the writes on nc
	w   *bufio.Writer
	hdr []byte // header scratch, under wmu

	closeOnce sync.Once
}

const bufSize = 64 << 10

// handshake exchanges greetings and READY commands on nc within the
// handshake timeout. It does not close nc on failure: the caller does.
func handshake(nc net.Conn, opts *Options, socketType string, identity []byte) (*conn, error) {
	c := &conn{nc: nc, r: bufio.NewReaderSize(nc, bufSize), w: bufio.NewWriterSize(nc, bufSize), opts: opts}
	if err := nc.SetDeadline(time.Now().Add(opts.HandshakeTimeout)); err != nil {
		return nil, err
	}
	out := append([]byte(nil), greeting...)
	out = appendReady(out, socketType, identity)
	if _, err := nc.Write(out); err != nil {
		return nil, fmt.Errorf("zmtp: handshake: %w", err)
	}
	var g [GreetingSize]byte
	if _, err := io.ReadFull(c.r, g[:10]); err != nil {
		return nil, fmt.Errorf("zmtp: handshake: greeting: %w", err)
	}
	if err := ParseSignature(g[:10]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.r, g[10:]); err != nil {
		return nil, fmt.Errorf("zmtp: handshake: greeting: %w", err)
	}
	if _, err := ParseGreeting(g[:]); err != nil {
		return nil, err
	}
	h, err := c.readHeader()
	if err != nil {
		return nil, fmt.Errorf("zmtp: handshake: %w", err)
	}
	if !h.Command {
		return nil, protoErr("a message before READY")
	}
	body, err := c.readCommand(h)
	if err != nil {
		return nil, fmt.Errorf("zmtp: handshake: %w", err)
	}
	name, data, err := ParseCommand(body)
	if err != nil {
		return nil, err
	}
	switch name {
	case "READY":
	case "ERROR":
		return nil, fmt.Errorf("zmtp: handshake: the peer refused: %q", errorReason(data))
	default:
		return nil, protoErr("%q command before READY", name)
	}
	props, err := ParseReady(data)
	if err != nil {
		return nil, err
	}
	peerType := string(props["socket-type"])
	if !compatible(socketType, peerType) {
		return nil, protoErr("a %s cannot talk to a %q socket", socketType, peerType)
	}
	id := props["identity"]
	if len(id) > 255 {
		return nil, protoErr("identity of %d bytes", len(id))
	}
	c.identity = id
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return c, nil
}

func errorReason(data []byte) string {
	if len(data) == 0 || int(data[0]) > len(data)-1 {
		return ""
	}
	return string(data[1 : 1+int(data[0])])
}

// readHeader reads one frame header.
func (c *conn) readHeader() (FrameHeader, error) {
	b, err := c.r.Peek(2)
	if err != nil {
		if len(b) == 0 && errors.Is(err, io.EOF) {
			return FrameHeader{}, io.EOF
		}
		return FrameHeader{}, eof(err)
	}
	h, ok, err := ParseFrameHeader(b)
	if err != nil {
		return h, err
	}
	if !ok {
		if b, err = c.r.Peek(9); err != nil {
			return h, eof(err)
		}
		if h, _, err = ParseFrameHeader(b); err != nil {
			return h, err
		}
	}
	c.r.Discard(h.Len)
	return h, nil
}

func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readCommand reads the body of a command frame, which must be small.
func (c *conn) readCommand(h FrameHeader) ([]byte, error) {
	if h.Size > MaxCommandSize {
		return nil, protoErr("command of %d bytes (at most %d)", h.Size, MaxCommandSize)
	}
	body := make([]byte, h.Size)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, eof(err)
	}
	return body, nil
}

// firstChunk is the most allocated for a frame before its bytes arrive; the
// buffer then grows (four-fold) with the bytes that actually came.
const firstChunk = 256 << 10

// readBody reads a frame body of n bytes (n at most MaxFrameSize).
func (c *conn) readBody(n int) ([]byte, error) {
	buf := make([]byte, min(n, firstChunk))
	off := 0
	for {
		if _, err := io.ReadFull(c.r, buf[off:]); err != nil {
			return nil, eof(err)
		}
		if len(buf) == n {
			return buf, nil
		}
		off = len(buf)
		nb := make([]byte, min(n, 4*len(buf)))
		copy(nb, buf)
		buf = nb
	}
}

// readMsg reads one message, answering the commands in between: PING with
// PONG; ERROR ends the connection; others are ignored.
func (c *conn) readMsg() (Msg, error) {
	var m Msg
	for {
		h, err := c.readHeader()
		if err != nil {
			if len(m.Frames) > 0 || m.Size > 0 {
				return m, eof(err)
			}
			return m, err
		}
		if h.Command {
			// libzmq sends its heartbeats between the frames of a
			// multipart message too.
			body, err := c.readCommand(h)
			if err != nil {
				return m, err
			}
			if err := c.command(body); err != nil {
				return m, err
			}
			continue
		}
		if h.Size > uint64(c.opts.MaxFrameSize) {
			return m, protoErr("frame of %d bytes is over the cap of %d", h.Size, c.opts.MaxFrameSize)
		}
		size := int64(h.Size)
		m.Size += size + c.opts.FrameOverhead
		if !m.Truncated && c.opts.MaxMessageSize > 0 && m.Size > c.opts.MaxMessageSize {
			m.Truncated = true
		}
		if m.Truncated {
			if _, err := c.r.Discard(int(size)); err != nil {
				return m, eof(err)
			}
		} else {
			body, err := c.readBody(int(size))
			if err != nil {
				return m, err
			}
			m.Frames = append(m.Frames, body)
		}
		if !h.More {
			return m, nil
		}
	}
}

// command handles a command after the handshake.
func (c *conn) command(body []byte) error {
	name, data, err := ParseCommand(body)
	if err != nil {
		return err
	}
	switch name {
	case "PING":
		// PING: a 2-byte TTL, then a context of at most 16 bytes to echo.
		if len(data) < 2 || len(data) > 2+16 {
			return protoErr("PING of %d bytes", len(data))
		}
		return c.writeCommand("PONG", data[2:])
	case "ERROR":
		return fmt.Errorf("zmtp: the peer sent ERROR %q", errorReason(data))
	}
	return nil // PONG and commands of later versions
}

func (c *conn) writeCommand(name string, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	c.hdr = appendCommand(c.hdr[:0], name, data)
	if _, err := c.w.Write(c.hdr); err != nil {
		return err
	}
	return c.w.Flush()
}

// writeMsg writes one message by the deadline; flush sends it at once
// (otherwise it may wait in the buffer for the next one).
func (c *conn) writeMsg(frames [][]byte, deadline time.Time, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if len(frames) == 0 {
		frames = [][]byte{nil}
	}
	for i, f := range frames {
		c.hdr = appendFrameHeader(c.hdr[:0], len(f), i < len(frames)-1, false)
		if _, err := c.w.Write(c.hdr); err != nil {
			return err
		}
		if _, err := c.w.Write(f); err != nil {
			return err
		}
	}
	if flush {
		return c.w.Flush()
	}
	return nil
}

func (c *conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

// endpoint is a parsed ZeroMQ endpoint.
type endpoint struct {
	network string // "tcp", "tcp4", "unix"
	address string
}

// parseEndpoint parses tcp://HOST:PORT (HOST may be *, PORT may be * or 0
// when binding) and ipc://PATH.
func parseEndpoint(ep string, bind bool) (endpoint, error) {
	switch {
	case len(ep) > 6 && ep[:6] == "tcp://":
		hostport := ep[6:]
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return endpoint{}, fmt.Errorf("zmtp: endpoint %q: %w", ep, err)
		}
		if port == "*" {
			if !bind {
				return endpoint{}, fmt.Errorf("zmtp: endpoint %q: a port of * is for binding", ep)
			}
			port = "0"
		}
		network := "tcp"
		if host == "*" {
			if !bind {
				return endpoint{}, fmt.Errorf("zmtp: endpoint %q: a host of * is for binding", ep)
			}
			host, network = "0.0.0.0", "tcp4"
		}
		return endpoint{network, net.JoinHostPort(host, port)}, nil
	case len(ep) > 6 && ep[:6] == "ipc://":
		return endpoint{"unix", ep[6:]}, nil
	}
	return endpoint{}, fmt.Errorf("zmtp: endpoint %q: want tcp://HOST:PORT or ipc://PATH", ep)
}

// listen binds ep. A stale socket file at an ipc:// path (one nothing
// accepts on) is removed first, as libzmq does.
func listen(ep endpoint) (net.Listener, error) {
	ln, err := net.Listen(ep.network, ep.address)
	if err == nil || ep.network != "unix" {
		return ln, err
	}
	fi, serr := os.Lstat(ep.address)
	if serr != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil, err
	}
	if nc, derr := net.DialTimeout("unix", ep.address, time.Second); derr == nil {
		nc.Close()
		return nil, err // somebody is serving there
	}
	os.Remove(ep.address)
	return net.Listen(ep.network, ep.address)
}
