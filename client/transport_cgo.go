//go:build cgo && !partd_purego

package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gopartd/partd"
)

// Transport names the ZeroMQ implementation of this build: "libzmq" here
// (cgo, pebbe/zmq4), "zmtp" in the pure-Go build (CGO_ENABLED=0).
const Transport = "libzmq"

// WithCurve makes the client use CURVE security: serverPublicKey is the
// server's Z85 public key, publicKey and secretKey the client's own pair
// (zmq4.NewCurveKeypair). A server that does not allow publicKey never
// answers, so calls end with ErrTimeout. CURVE needs the libzmq build: in
// the pure-Go build (CGO_ENABLED=0) this option is an error.
func WithCurve(serverPublicKey, publicKey, secretKey string) Option {
	return func(o *options) error {
		for _, k := range []string{serverPublicKey, publicKey, secretKey} {
			if len(k) != 40 || len(zmq.Z85decode(k)) != 32 {
				return errors.New("partd/client: CURVE keys must be 40 Z85 characters")
			}
		}
		o.curveServer, o.curvePublic, o.curveSecret = serverPublicKey, publicKey, secretKey
		return nil
	}
}

// zmqTransport is libzmq's, with a context of the client's own.
type zmqTransport struct {
	c   *Client
	ctx *zmq.Context
}

func newTransport(c *Client) (clientTransport, error) {
	ctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("partd/client: zmq context: %w", err)
	}
	return &zmqTransport{c: c, ctx: ctx}, nil
}

func (t *zmqTransport) close() { t.ctx.Term() }

// zmqDealer is a libzmq DEALER socket.
type zmqDealer struct {
	c    *Client
	sock *zmq.Socket
}

func (t *zmqTransport) newDealer() (dealerConn, error) {
	sock, err := t.ctx.NewSocket(zmq.DEALER)
	if err != nil {
		return nil, err
	}
	sock.SetLinger(0)
	o := &t.c.opts
	if o.curveServer != "" {
		if err := sock.ClientAuthCurve(o.curveServer, o.curvePublic, o.curveSecret); err != nil {
			sock.Close()
			return nil, err
		}
	}
	if err := sock.Connect(t.c.addr); err != nil {
		sock.Close()
		return nil, err
	}
	return &zmqDealer{c: t.c, sock: sock}, nil
}

func (d *zmqDealer) close() { d.sock.Close() }

// probeSeq numbers the monitor endpoints of probes.
var probeSeq atomic.Uint64

// probe watches a socket of its own with a ZeroMQ monitor for its first
// connection.
func (t *zmqTransport) probe(ctx context.Context, wait time.Duration) error {
	c := t.c
	sock, err := t.ctx.NewSocket(zmq.DEALER)
	if err != nil {
		return err
	}
	sock.SetLinger(0)
	mon, err := t.ctx.NewSocket(zmq.PAIR)
	if err != nil {
		sock.Close()
		return err
	}
	mon.SetLinger(0)
	defer func() {
		sock.Monitor("", 0) // stop the monitor, then close the sockets
		sock.Close()
		mon.Close()
	}()
	if c.opts.curveServer != "" {
		// The server then sees an ordinary CURVE client, not a failed
		// handshake.
		if err := sock.ClientAuthCurve(c.opts.curveServer, c.opts.curvePublic, c.opts.curveSecret); err != nil {
			return err
		}
	}
	monAddr := fmt.Sprintf("inproc://partd-client-probe-%d", probeSeq.Add(1))
	if err := sock.Monitor(monAddr, zmq.EVENT_CONNECTED); err != nil {
		return err
	}
	if err := mon.Connect(monAddr); err != nil {
		return err
	}
	if err := sock.Connect(c.addr); err != nil {
		return err
	}
	cl := &call{ctx: ctx, deadline: time.Now().Add(wait)}
	for {
		if err := wait0(c, mon, zmq.POLLIN, cl); err != nil {
			return err
		}
		ev, _, _, err := mon.RecvEvent(zmq.DONTWAIT)
		if err == nil && ev == zmq.EVENT_CONNECTED {
			return nil
		}
	}
}

// wait0 polls sock for events until cl's deadline, the end of cl's context,
// or Close.
func wait0(c *Client, sock *zmq.Socket, events zmq.State, cl *call) error {
	poller := zmq.NewPoller()
	poller.Add(sock, events)
	slice := pollSlice
	if cl.ctx.Done() != nil {
		slice = ctxSlice
	}
	for {
		select {
		case <-c.quit:
			return partd.ErrClosed
		case <-cl.ctx.Done():
			return cl.ctx.Err()
		default:
		}
		left := time.Until(cl.deadline)
		if left <= 0 {
			return ErrTimeout
		}
		polled, err := poller.Poll(min(left, slice))
		if err != nil {
			return err
		}
		if len(polled) > 0 {
			return nil
		}
	}
}

// pollSlice bounds each wait so a Close is noticed quickly; ctxSlice bounds
// it for a call whose context can be cancelled.
const (
	pollSlice = 100 * time.Millisecond
	ctxSlice  = 20 * time.Millisecond
)

func (d *zmqDealer) send(cl *call, frames [][]byte) error {
	if err := wait0(d.c, d.sock, zmq.POLLOUT, cl); err != nil {
		return err
	}
	for i, f := range frames {
		flag := zmq.SNDMORE | zmq.DONTWAIT
		if i == len(frames)-1 {
			flag = zmq.DONTWAIT
		}
		if _, err := d.sock.SendBytes(f, flag); err != nil {
			return err
		}
	}
	return nil
}

func (d *zmqDealer) recv(cl *call) ([][]byte, error) {
	if err := wait0(d.c, d.sock, zmq.POLLIN, cl); err != nil {
		return nil, err
	}
	return d.sock.RecvMessageBytes(zmq.DONTWAIT)
}
