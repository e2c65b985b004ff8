package client

import (
	"context"
	"time"
)

// clientTransport is the client's side of ZeroMQ. Two builds implement it:
// transport_cgo.go with libzmq (pebbe/zmq4), the default where cgo is on,
// and transport_purego.go with internal/zmtp, where cgo is off (or with the
// partd_purego build tag).
type clientTransport interface {
	// newDealer creates a DEALER socket connected to the client's address
	// (with CURVE if the client has keys). The calling connection goroutine
	// owns it.
	newDealer() (dealerConn, error)
	// probe waits up to wait, or until ctx is done, for anything to accept
	// a connection at the client's address: ZeroMQ connects in the
	// background and retries forever, so without it a dial to a dead
	// address would wait the whole timeout. It returns nil, ErrTimeout or
	// ctx's error.
	probe(ctx context.Context, wait time.Duration) error
	// close releases what the transport holds, once every dealer is closed.
	close()
}

// dealerConn is one DEALER socket, owned by one connection goroutine.
type dealerConn interface {
	// send sends one message, waiting for the socket up to cl's deadline,
	// the end of cl's context or Close (ErrTimeout, ctx.Err(),
	// partd.ErrClosed). The frames may be reused once it returns.
	send(cl *call, frames [][]byte) error
	// recv waits for one message, as send waits.
	recv(cl *call) ([][]byte, error)
	close()
}
