package server

import (
	"log/slog"
	"time"
)

// routerTransport is the server's side of ZeroMQ: the ROUTER socket bound to
// the server's address and the owner's wake-ups. Two builds implement it:
// transport_cgo.go with libzmq (pebbe/zmq4), the default where cgo is on,
// and transport_purego.go with internal/zmtp, where cgo is off (or with the
// partd_purego build tag).
//
// The methods marked "owner" are called only by the goroutine that owns the
// ROUTER socket: the one running Serve (or Close, when Serve never ran).
type routerTransport interface {
	// addr is the bound endpoint, with the port the system chose.
	addr() string
	// curve reports whether the transport requires CURVE.
	curve() bool
	// wait blocks until a request can be read (only if read), a wake-up
	// arrives, or d has passed. Owner.
	wait(read bool, d time.Duration) error
	// drainWakeups consumes the wake-ups that arrived and reports whether
	// one of them was Close's. Owner.
	drainWakeups() (quit bool)
	// recv reads one request without waiting; nil when none is ready.
	// Frames past the message cap are read and dropped. Owner.
	recv() *request
	// send sends msgs to peer, each one multipart message, without waiting
	// for the peer: what cannot be queued for it is dropped, as a ZeroMQ
	// ROUTER drops it. It returns the bytes sent. Owner.
	send(peer []byte, msgs [][][]byte) uint64
	// authenticate answers pending authentication requests (ZAP, with
	// CURVE). Owner.
	authenticate()
	// newWaker returns a waker for the calling worker goroutine, which owns
	// it; nil if none could be made (the owner then notices replies at its
	// next poll timeout).
	newWaker() waker
	// quit wakes the owner and asks it to stop. Any goroutine.
	quit()
	// close closes the sockets and releases everything. Owner, once.
	close() error
}

// waker wakes the owner goroutine. Each worker owns one.
type waker interface {
	wake()
	close()
}

// transportConfig is what New passes to a transport.
type transportConfig struct {
	addr        string
	seq         uint64
	maxMsg      int64
	lingerClose time.Duration
	curveSecret string
	curveAllow  []string
	logger      *slog.Logger
}

// headOf keeps, of a request over the cap, only a small head: enough to
// address the error reply.
func headOf(frames [][]byte) [][]byte {
	head := frames[:0]
	for i, h := range frames {
		if i < 3 && len(h) <= 256 {
			head = append(head, h)
		}
	}
	clear(frames[len(head):])
	return head
}
