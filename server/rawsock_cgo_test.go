//go:build cgo && !partd_purego

package server_test

import (
	"time"

	zmq "github.com/pebbe/zmq4"
)

// rawDealer and rawRouter are bare ZeroMQ sockets for tests that send
// hand-made frames: libzmq's here, internal/zmtp's in the pure-Go build.
type rawDealer struct{ sock *zmq.Socket }

func newRawDealer(addr string) (*rawDealer, error) {
	sock, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return nil, err
	}
	sock.SetLinger(0)
	sock.SetSndhwm(8)
	if err := sock.Connect(addr); err != nil {
		sock.Close()
		return nil, err
	}
	return &rawDealer{sock}, nil
}

func (d *rawDealer) send(frames ...[]byte) error {
	parts := make([]any, len(frames))
	for i, f := range frames {
		parts[i] = f
	}
	_, err := d.sock.SendMessage(parts...)
	return err
}

// recv waits up to timeout for a message; nil if none came.
func (d *rawDealer) recv(timeout time.Duration) ([][]byte, error) {
	poller := zmq.NewPoller()
	poller.Add(d.sock, zmq.POLLIN)
	polled, err := poller.Poll(timeout)
	if err != nil || len(polled) == 0 {
		return nil, err
	}
	return d.sock.RecvMessageBytes(0)
}

func (d *rawDealer) close() { d.sock.Close() }

type rawRouter struct {
	sock     *zmq.Socket
	endpoint string
}

func newRawRouter(addr string) (*rawRouter, error) {
	sock, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		return nil, err
	}
	sock.SetLinger(0)
	if err := sock.Bind(addr); err != nil {
		sock.Close()
		return nil, err
	}
	ep, err := sock.GetLastEndpoint()
	if err != nil {
		sock.Close()
		return nil, err
	}
	return &rawRouter{sock, ep}, nil
}

func (r *rawRouter) addr() string { return r.endpoint }

// recv waits up to timeout for a message, routing id first; nil if none
// came.
func (r *rawRouter) recv(timeout time.Duration) ([][]byte, error) {
	poller := zmq.NewPoller()
	poller.Add(r.sock, zmq.POLLIN)
	polled, err := poller.Poll(timeout)
	if err != nil || len(polled) == 0 {
		return nil, err
	}
	return r.sock.RecvMessageBytes(0)
}

// send sends a message, routing id first.
func (r *rawRouter) send(frames ...[]byte) error {
	parts := make([]any, len(frames))
	for i, f := range frames {
		parts[i] = f
	}
	_, err := r.sock.SendMessage(parts...)
	return err
}

func (r *rawRouter) close() { r.sock.Close() }
