//go:build !cgo || partd_purego

package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopartd/partd/internal/zmtp"
)

// Transport names the ZeroMQ implementation of this build: "zmtp" here,
// the pure-Go ZMTP 3.0 of internal/zmtp (CGO_ENABLED=0), "libzmq" in the
// default build with cgo.
const Transport = "zmtp"

// ErrCurveUnsupported is returned by WithCurve in the pure-Go build, which
// has no CURVE: build with cgo (and libzmq) for it.
var ErrCurveUnsupported = errors.New("partd/server: CURVE needs the libzmq build of partd (cgo); this one was built with CGO_ENABLED=0 and speaks only unencrypted ZeroMQ: rebuild with cgo and libzmq, or keep the server on loopback or ipc://")

// WithCurve would make the server require CURVE security. The pure-Go
// build has no CURVE implementation: the option is refused with
// ErrCurveUnsupported, never silently skipped.
func WithCurve(secretKey string, allowed ...string) Option {
	return func(o *options) error {
		return ErrCurveUnsupported
	}
}

// zmtpTransport is internal/zmtp's ROUTER, with channels for wake-ups.
type zmtpTransport struct {
	cfg    transportConfig
	router *zmtp.Router
	wakeCh chan struct{} // workers -> owner, capacity 1
	quitCh chan struct{} // quit -> owner, capacity 1
	held   *zmtp.Msg     // a message wait took, for recv

	quitting bool // a quit wait took, for drainWakeups
	timer    *time.Timer
}

var _ routerTransport = (*zmtpTransport)(nil)

// zmtpHWM is how many messages the ROUTER queues for one peer: as libzmq's
// default send high-water mark.
const zmtpHWM = 1000

// newTransport binds the ROUTER.
func newTransport(cfg transportConfig) (routerTransport, error) {
	if cfg.curveSecret != "" {
		return nil, ErrCurveUnsupported
	}
	logger := cfg.logger
	r, err := zmtp.Listen(cfg.addr, zmtp.Options{
		// One frame over the cap closes the connection, as libzmq's
		// ZMQ_MAXMSGSIZE does; a message over it is read and dropped.
		MaxFrameSize:   cfg.maxMsg,
		MaxMessageSize: cfg.maxMsg,
		FrameOverhead:  frameOverhead,
		SendHWM:        zmtpHWM,
		Logf: func(format string, args ...any) {
			logger.Debug("partd server: zmtp", "msg", fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("partd/server: bind %s: %w", cfg.addr, err)
	}
	t := &zmtpTransport{
		cfg:    cfg,
		router: r,
		wakeCh: make(chan struct{}, 1),
		quitCh: make(chan struct{}, 1),
		timer:  time.NewTimer(time.Hour),
	}
	t.timer.Stop()
	return t, nil
}

func (t *zmtpTransport) addr() string { return t.router.Addr() }
func (t *zmtpTransport) curve() bool  { return false }

func (t *zmtpTransport) wait(read bool, d time.Duration) error {
	if read && t.held != nil {
		return nil
	}
	var in <-chan zmtp.Msg
	if read {
		in = t.router.Incoming()
	}
	select { // without a timer when something is ready
	case m := <-in:
		t.held = &m
		return nil
	case <-t.wakeCh:
		return nil // drainWakeups has nothing more to do for it
	case <-t.quitCh:
		t.quitting = true
		return nil
	default:
	}
	t.timer.Reset(d)
	defer t.timer.Stop()
	select {
	case m := <-in:
		t.held = &m
	case <-t.wakeCh:
	case <-t.quitCh:
		t.quitting = true
	case <-t.timer.C:
	}
	return nil
}

func (t *zmtpTransport) drainWakeups() bool {
	select {
	case <-t.wakeCh:
	default:
	}
	quit := t.quitting
	select {
	case <-t.quitCh:
		quit = true
	default:
	}
	t.quitting = false
	return quit
}

func (t *zmtpTransport) recv() *request {
	var m zmtp.Msg
	if t.held != nil {
		m, t.held = *t.held, nil
	} else {
		select {
		case m = <-t.router.Incoming():
		default:
			return nil
		}
	}
	r := &request{peer: m.Peer, frames: m.Frames, size: m.Size, start: time.Now()}
	if m.Truncated || m.Size > t.cfg.maxMsg {
		r.tooLarge = true
		r.frames = headOf(r.frames)
	}
	return r
}

func (t *zmtpTransport) send(peer []byte, msgs [][][]byte) uint64 {
	var n uint64
	for _, msg := range msgs {
		if err := t.router.Send(peer, msg); err != nil {
			t.cfg.logger.Debug("partd server send", "err", err)
			return n
		}
		for _, f := range msg {
			n += uint64(len(f))
		}
	}
	return n
}

func (t *zmtpTransport) authenticate() {}

// chanWaker wakes the owner through its capacity-1 channel.
type chanWaker chan struct{}

func (w chanWaker) wake() {
	select {
	case w <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (w chanWaker) close() {}

func (t *zmtpTransport) newWaker() waker { return chanWaker(t.wakeCh) }

func (t *zmtpTransport) quit() { chanWaker(t.quitCh).wake() }

func (t *zmtpTransport) close() error {
	if t.router == nil {
		return nil
	}
	err := t.router.Close()
	t.router = nil
	if err != nil {
		return fmt.Errorf("partd/server: close: %w", err)
	}
	return nil
}
