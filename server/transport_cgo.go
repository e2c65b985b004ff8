//go:build cgo && !partd_purego

package server

import (
	"errors"
	"fmt"
	"sync"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Transport names the ZeroMQ implementation of this build: "libzmq" here
// (cgo, pebbe/zmq4), "zmtp" in the pure-Go build (CGO_ENABLED=0).
const Transport = "libzmq"

// WithCurve makes the server require CURVE security: secretKey is the
// server's Z85 secret key (40 characters, see zmq4.NewCurveKeypair) and
// allowed lists the Z85 public keys of the clients allowed to connect ("*"
// allows any client key, for encryption without authentication). A client
// whose key is not allowed gets no connection at all. Each server runs its own
// ZAP authenticator inside its own ZeroMQ context, so servers in one process
// have separate lists and nothing process-global is touched. CURVE needs the
// libzmq build: in the pure-Go build (CGO_ENABLED=0) this option is an error.
func WithCurve(secretKey string, allowed ...string) Option {
	return func(o *options) error {
		if len(secretKey) != 40 || len(zmq.Z85decode(secretKey)) != 32 {
			return errors.New("partd/server: CURVE secret key must be 40 Z85 characters")
		}
		if len(allowed) == 0 {
			return errors.New("partd/server: CURVE needs at least one allowed client key (or \"*\")")
		}
		for _, k := range allowed {
			if k != zmq.CURVE_ALLOW_ANY && (len(k) != 40 || len(zmq.Z85decode(k)) != 32) {
				return fmt.Errorf("partd/server: allowed CURVE key %q is not 40 Z85 characters", k)
			}
		}
		o.curveSecret = secretKey
		o.curveAllow = append([]string(nil), allowed...)
		return nil
	}
}

// zmqTransport is libzmq's ROUTER (through pebbe/zmq4), with an inproc PULL
// socket for wake-ups and, with CURVE, a ZAP REP socket, all in a context
// of the server's own.
type zmqTransport struct {
	cfg      transportConfig
	ctx      *zmq.Context
	endpoint string
	wakeAddr string
	domain   string          // ZAP domain, "" without CURVE
	allowed  map[string]bool // allowed CURVE client keys (Z85); read-only after New

	// Sockets of the owner.
	router *zmq.Socket
	wake   *zmq.Socket
	zap    *zmq.Socket

	poller       *zmq.Poller
	routerIdx    int       // the ROUTER's index in poller
	routerEvents zmq.State // the events poller asks of the ROUTER now

	ctxMu   sync.Mutex // guards ctxDone: quit's wake-up socket vs. terminating ctx
	ctxDone bool
}

var _ routerTransport = (*zmqTransport)(nil)

// newTransport creates the context and the sockets and binds them.
func newTransport(cfg transportConfig) (routerTransport, error) {
	t := &zmqTransport{cfg: cfg, wakeAddr: fmt.Sprintf("inproc://partd-server-wake-%d", cfg.seq)}
	if err := t.open(); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *zmqTransport) open() error {
	ctx, err := zmq.NewContext()
	if err != nil {
		return fmt.Errorf("partd/server: zmq context: %w", err)
	}
	t.ctx = ctx
	if t.cfg.curveSecret != "" {
		// The ZAP handler must be bound before the ROUTER accepts anyone.
		if t.zap, err = ctx.NewSocket(zmq.REP); err != nil {
			return fmt.Errorf("partd/server: zap socket: %w", err)
		}
		t.zap.SetLinger(0)
		if err := t.zap.Bind("inproc://zeromq.zap.01"); err != nil {
			return fmt.Errorf("partd/server: bind zap handler: %w", err)
		}
		t.domain = fmt.Sprintf("partd-%d", t.cfg.seq)
		t.allowed = make(map[string]bool)
		for _, k := range t.cfg.curveAllow {
			t.allowed[k] = true
		}
	}
	if t.router, err = ctx.NewSocket(zmq.ROUTER); err != nil {
		return fmt.Errorf("partd/server: router socket: %w", err)
	}
	// Few whole messages queued per peer inside ZeroMQ: beyond that, TCP
	// pushes back.
	t.router.SetRcvhwm(64)
	if err := t.router.SetMaxmsgsize(t.cfg.maxMsg); err != nil {
		return fmt.Errorf("partd/server: set max message size: %w", err)
	}
	t.router.SetLinger(t.cfg.lingerClose)
	if t.zap != nil {
		if err := t.router.ServerAuthCurve(t.domain, t.cfg.curveSecret); err != nil {
			return fmt.Errorf("partd/server: curve: %w", err)
		}
	}
	if err := t.router.Bind(t.cfg.addr); err != nil {
		return fmt.Errorf("partd/server: bind %s: %w", t.cfg.addr, err)
	}
	if t.endpoint, err = t.router.GetLastEndpoint(); err != nil {
		return fmt.Errorf("partd/server: endpoint: %w", err)
	}
	if t.wake, err = ctx.NewSocket(zmq.PULL); err != nil {
		return fmt.Errorf("partd/server: wake socket: %w", err)
	}
	t.wake.SetLinger(0)
	if err := t.wake.Bind(t.wakeAddr); err != nil {
		return fmt.Errorf("partd/server: bind %s: %w", t.wakeAddr, err)
	}
	// The poller only refers to the sockets; the owner polls them and is
	// their only user.
	t.poller = zmq.NewPoller()
	t.routerEvents = zmq.POLLIN
	t.routerIdx = t.poller.Add(t.router, zmq.POLLIN)
	t.poller.Add(t.wake, zmq.POLLIN)
	if t.zap != nil {
		t.poller.Add(t.zap, zmq.POLLIN)
	}
	return nil
}

func (t *zmqTransport) addr() string { return t.endpoint }
func (t *zmqTransport) curve() bool  { return t.zap != nil }

// wait polls the ROUTER (for input only while read), the wake-up socket and
// the ZAP socket. While the owner may not read more, ZeroMQ's queues and
// then TCP push back on clients.
func (t *zmqTransport) wait(read bool, d time.Duration) error {
	want := zmq.State(0)
	if read {
		want = zmq.POLLIN
	}
	if want != t.routerEvents {
		t.poller.Update(t.routerIdx, want)
		t.routerEvents = want
	}
	if _, err := t.poller.Poll(d); err != nil {
		// pebbe/zmq4 retries EINTR itself: anything else will not go away.
		return fmt.Errorf("partd/server: poll: %w", err)
	}
	return nil
}

// drainWakeups empties the wake-up PULL socket without waiting: workers send
// empty wake-ups, quit sends "quit".
func (t *zmqTransport) drainWakeups() bool {
	quit := false
	for {
		msg, err := t.wake.RecvBytes(zmq.DONTWAIT)
		if err != nil {
			return quit
		}
		if string(msg) == "quit" {
			quit = true
		}
	}
}

// recv reads one request from the ROUTER without waiting. Frames past the
// message cap are read and dropped.
func (t *zmqTransport) recv() *request {
	id, err := t.router.RecvBytes(zmq.DONTWAIT)
	if err != nil {
		return nil
	}
	r := &request{peer: id, start: time.Now()}
	for {
		more, err := t.router.GetRcvmore()
		if err != nil || !more {
			break
		}
		f, err := t.router.RecvBytes(0) // the rest of a message arrives with its first frame
		if err != nil {
			break
		}
		r.size += int64(len(f)) + frameOverhead
		if r.tooLarge {
			continue
		}
		if r.size > t.cfg.maxMsg {
			r.tooLarge = true
			r.frames = headOf(r.frames)
			continue
		}
		r.frames = append(r.frames, f)
	}
	return r
}

// send sends msgs to peer. A ROUTER drops what it cannot route (a peer that
// went away), which is what we want.
func (t *zmqTransport) send(peer []byte, msgs [][][]byte) uint64 {
	var n uint64
	for _, msg := range msgs {
		if _, err := t.router.SendBytes(peer, zmq.SNDMORE); err != nil {
			t.cfg.logger.Debug("partd server send", "err", err)
			return n
		}
		for i, f := range msg {
			flag := zmq.SNDMORE
			if i == len(msg)-1 {
				flag = 0
			}
			if _, err := t.router.SendBytes(f, flag); err != nil {
				t.cfg.logger.Debug("partd server send", "err", err)
				return n
			}
			n += uint64(len(f))
		}
	}
	return n
}

// authenticate answers pending ZAP requests (RFC 27): CURVE clients whose
// public key is allowed get 200, everyone else 400.
func (t *zmqTransport) authenticate() {
	if t.zap == nil {
		return
	}
	for {
		msg, err := t.zap.RecvMessageBytes(zmq.DONTWAIT)
		if err != nil {
			return
		}
		var reqID []byte
		if len(msg) > 1 {
			reqID = msg[1]
		}
		status, text, user := "400", "denied", ""
		if len(msg) >= 7 && string(msg[0]) == "1.0" && string(msg[2]) == t.domain &&
			string(msg[5]) == "CURVE" && len(msg[6]) == 32 {
			key := zmq.Z85encode(string(msg[6]))
			if t.allowed[key] || t.allowed[zmq.CURVE_ALLOW_ANY] {
				status, text, user = "200", "OK", key
			} else {
				t.cfg.logger.Warn("partd server: CURVE client key not allowed", "key", key, "address", string(msg[3]))
			}
		}
		t.zap.SendMessage("1.0", reqID, status, text, user, "")
	}
}

// zmqWaker is a worker's inproc PUSH socket to the owner's PULL.
type zmqWaker struct{ push *zmq.Socket }

func (w zmqWaker) wake() {
	// A failed send means a wake-up is already pending.
	w.push.SendBytes(nil, zmq.DONTWAIT)
}

func (w zmqWaker) close() { w.push.Close() }

func (t *zmqTransport) newWaker() waker {
	push, err := t.ctx.NewSocket(zmq.PUSH)
	if err != nil {
		t.cfg.logger.Warn("partd server worker: no wake-up socket, replies wait for the owner's poll timeout", "err", err)
		return nil
	}
	push.SetLinger(0)
	if err := push.Connect(t.wakeAddr); err != nil {
		push.Close()
		t.cfg.logger.Warn("partd server worker: no wake-up socket, replies wait for the owner's poll timeout", "err", err)
		return nil
	}
	return zmqWaker{push}
}

// quit sends "quit" to the owner on a short-lived PUSH socket of the
// caller's own. The owner also checks the server's closing flag at least
// once a second, so a lost wake-up only delays Close.
func (t *zmqTransport) quit() {
	t.ctxMu.Lock()
	defer t.ctxMu.Unlock()
	if t.ctxDone {
		return
	}
	push, err := t.ctx.NewSocket(zmq.PUSH)
	if err != nil {
		return
	}
	defer push.Close()
	if push.Connect(t.wakeAddr) == nil {
		push.SendBytes([]byte("quit"), zmq.DONTWAIT)
	}
}

// close closes the sockets and terminates the context.
func (t *zmqTransport) close() error {
	for _, sock := range []**zmq.Socket{&t.router, &t.wake, &t.zap} {
		if *sock != nil {
			(*sock).Close()
			*sock = nil
		}
	}
	if t.ctx == nil {
		return nil
	}
	t.ctxMu.Lock()
	defer t.ctxMu.Unlock()
	t.ctxDone = true
	if err := t.ctx.Term(); err != nil {
		return fmt.Errorf("partd/server: terminate zmq context: %w", err)
	}
	return nil
}
