//go:build !cgo || partd_purego

package server_test

import (
	"errors"
	"time"

	"github.com/gopartd/partd/internal/zmtp"
)

// rawDealer and rawRouter are bare ZeroMQ sockets for tests that send
// hand-made frames: internal/zmtp's here, libzmq's in the cgo build.
type rawDealer struct{ d *zmtp.Dealer }

func newRawDealer(addr string) (*rawDealer, error) {
	d, err := zmtp.Dial(addr, zmtp.Options{MaxFrameSize: 1 << 40})
	if err != nil {
		return nil, err
	}
	return &rawDealer{d}, nil
}

func (d *rawDealer) send(frames ...[]byte) error {
	return d.d.Send(nil, nil, time.Now().Add(time.Minute), frames)
}

// recv waits up to timeout for a message; nil if none came.
func (d *rawDealer) recv(timeout time.Duration) ([][]byte, error) {
	m, err := d.d.Recv(nil, nil, time.Now().Add(timeout))
	if errors.Is(err, zmtp.ErrTimeout) {
		return nil, nil
	}
	return m, err
}

func (d *rawDealer) close() { d.d.Close() }

type rawRouter struct{ r *zmtp.Router }

func newRawRouter(addr string) (*rawRouter, error) {
	r, err := zmtp.Listen(addr, zmtp.Options{MaxFrameSize: 1 << 40})
	if err != nil {
		return nil, err
	}
	return &rawRouter{r}, nil
}

func (r *rawRouter) addr() string { return r.r.Addr() }

// recv waits up to timeout for a message, routing id first; nil if none
// came.
func (r *rawRouter) recv(timeout time.Duration) ([][]byte, error) {
	select {
	case m := <-r.r.Incoming():
		return append([][]byte{m.Peer}, m.Frames...), nil
	case <-time.After(timeout):
		return nil, nil
	}
}

// send sends a message, routing id first.
func (r *rawRouter) send(frames ...[]byte) error {
	return r.r.Send(frames[0], frames[1:])
}

func (r *rawRouter) close() { r.r.Close() }
