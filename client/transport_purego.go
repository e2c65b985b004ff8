//go:build !cgo || partd_purego

package client

import (
	"context"
	"errors"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/zmtp"
)

// Transport names the ZeroMQ implementation of this build: "zmtp" here,
// the pure-Go ZMTP 3.0 of internal/zmtp (CGO_ENABLED=0), "libzmq" in the
// default build with cgo.
const Transport = "zmtp"

// ErrCurveUnsupported is returned by WithCurve in the pure-Go build, which
// has no CURVE: build with cgo (and libzmq) for it.
var ErrCurveUnsupported = errors.New("partd/client: CURVE needs the libzmq build of partd (cgo); this one was built with CGO_ENABLED=0 and speaks only unencrypted ZeroMQ")

// WithCurve would make the client use CURVE security. The pure-Go build has
// no CURVE implementation: the option is refused with ErrCurveUnsupported,
// never silently skipped.
func WithCurve(serverPublicKey, publicKey, secretKey string) Option {
	return func(o *options) error {
		return ErrCurveUnsupported
	}
}

// zmtpTransport makes internal/zmtp DEALERs.
type zmtpTransport struct{ c *Client }

func newTransport(c *Client) (clientTransport, error) {
	if o := c.opts; o.curveServer+o.curvePublic+o.curveSecret != "" {
		return nil, ErrCurveUnsupported // WithCurve refuses it first; never connect without it
	}
	return zmtpTransport{c}, nil
}

func (zmtpTransport) close() {}

// dealerOptions: the client trusts the server it dials with the sizes of
// its answers (a get of a key of several GiB is one frame), as libzmq's
// client does by default; memory still grows only with the bytes that
// arrive.
var dealerOptions = zmtp.Options{MaxFrameSize: 1 << 50}

func (t zmtpTransport) newDealer() (dealerConn, error) {
	d, err := zmtp.Dial(t.c.addr, dealerOptions)
	if err != nil {
		return nil, err
	}
	return &zmtpDealer{c: t.c, d: d}, nil
}

func (t zmtpTransport) probe(ctx context.Context, wait time.Duration) error {
	d, err := zmtp.Dial(t.c.addr, dealerOptions)
	if err != nil {
		return err
	}
	defer d.Close()
	return t.c.zmtpErr(ctx, d.Connected(t.c.quit, ctx.Done(), time.Now().Add(wait)))
}

// zmtpErr turns an error of a zmtp Dealer into the client's.
func (c *Client) zmtpErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zmtp.ErrTimeout):
		return ErrTimeout
	case errors.Is(err, zmtp.ErrClosed):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return partd.ErrClosed
	}
	return err
}

// zmtpDealer is an internal/zmtp DEALER.
type zmtpDealer struct {
	c *Client
	d *zmtp.Dealer
}

func (d *zmtpDealer) send(cl *call, frames [][]byte) error {
	if err := cl.ctx.Err(); err != nil {
		return err
	}
	return d.c.zmtpErr(cl.ctx, d.d.Send(d.c.quit, cl.ctx.Done(), cl.deadline, frames))
}

func (d *zmtpDealer) recv(cl *call) ([][]byte, error) {
	if err := cl.ctx.Err(); err != nil {
		return nil, err
	}
	m, err := d.d.Recv(d.c.quit, cl.ctx.Done(), cl.deadline)
	return m, d.c.zmtpErr(cl.ctx, err)
}

func (d *zmtpDealer) close() { d.d.Close() }
