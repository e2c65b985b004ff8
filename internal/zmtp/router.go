package zmtp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoPeer is returned by Router.Send for a routing id with no connection.
var ErrNoPeer = errors.New("zmtp: no such peer")

// ErrHWM is returned by Router.Send when the peer's queue is full; the
// message is dropped.
var ErrHWM = errors.New("zmtp: peer's send queue is full")

// Router is a ZeroMQ ROUTER socket bound to one endpoint: it receives each
// message with the routing id of the connection it came from and sends a
// message to the connection a routing id names.
type Router struct {
	opts Options
	ln   net.Listener
	addr string
	in   chan Msg
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[string]*routerPeer // by routing id, after the handshake
	conns  map[net.Conn]struct{}  // every open connection
	nextID uint32

	stats routerStats
}

type routerStats struct {
	handshakes       atomic.Int64 // under way
	failedHandshakes atomic.Uint64
	dropped          atomic.Uint64
}

// RouterStats are a Router's counters.
type RouterStats struct {
	Conns            int    // open connections, handshakes under way included
	Peers            int    // connections past their handshake
	Handshaking      int64  // handshakes under way
	FailedHandshakes uint64 // connections dropped during their handshake
	Dropped          uint64 // messages dropped at a full peer queue
}

type routerPeer struct {
	c   *conn
	id  []byte
	out chan [][]byte
}

// Listen binds a ROUTER to endpoint (tcp://HOST:PORT, where HOST may be *
// and PORT * for any free port, or ipc://PATH) and starts accepting
// connections.
func Listen(endpoint string, opts Options) (*Router, error) {
	ep, err := parseEndpoint(endpoint, true)
	if err != nil {
		return nil, err
	}
	ln, err := listen(ep)
	if err != nil {
		return nil, fmt.Errorf("zmtp: bind %s: %w", endpoint, err)
	}
	r := &Router{
		opts:   opts.withDefaults(),
		ln:     ln,
		in:     make(chan Msg, 16),
		done:   make(chan struct{}),
		peers:  make(map[string]*routerPeer),
		conns:  make(map[net.Conn]struct{}),
		nextID: 0x6b8b4567,
	}
	if ep.network == "unix" {
		r.addr = "ipc://" + ep.address
	} else {
		r.addr = "tcp://" + ln.Addr().String()
	}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr returns the bound endpoint, with the port the system chose.
func (r *Router) Addr() string { return r.addr }

// Incoming returns the channel of received messages. It is never closed;
// after Close nothing more arrives on it.
func (r *Router) Incoming() <-chan Msg { return r.in }

// Send queues msg for the peer named by its routing id without waiting.
// The Router keeps the frames until they are written: the caller must not
// change them. It returns ErrNoPeer if the peer is gone and ErrHWM if its
// queue is full; either way the message is dropped, as a ZeroMQ ROUTER
// drops it.
func (r *Router) Send(peer []byte, msg [][]byte) error {
	r.mu.Lock()
	p := r.peers[string(peer)]
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if p == nil {
		return ErrNoPeer
	}
	select {
	case p.out <- msg:
		return nil
	default:
		r.stats.dropped.Add(1)
		return ErrHWM
	}
}

// Stats returns the Router's counters.
func (r *Router) Stats() RouterStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RouterStats{
		Conns:            len(r.conns),
		Peers:            len(r.peers),
		Handshaking:      r.stats.handshakes.Load(),
		FailedHandshakes: r.stats.failedHandshakes.Load(),
		Dropped:          r.stats.dropped.Load(),
	}
}

// Close stops accepting, closes every connection and waits for the
// Router's goroutines. Messages not yet written are dropped.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	err := r.ln.Close()
	for nc := range r.conns {
		nc.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// accept accepts connections until Close. Each connection is served by a
// goroutine of its own, from its handshake on, so a slow handshake delays
// no other connection.
func (r *Router) accept() {
	defer r.wg.Done()
	var backoff time.Duration
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors, say: wait a little, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				r.opts.logf("zmtp: accept: %v; retrying in %v", err, backoff)
				select {
				case <-time.After(backoff):
				case <-r.done:
					return
				}
				continue
			}
			r.opts.logf("zmtp: accept: %v", err)
			return
		}
		backoff = 0
		r.mu.Lock()
		if r.closed || len(r.conns) >= r.opts.MaxConns {
			full := !r.closed
			r.mu.Unlock()
			nc.Close()
			if full {
				r.opts.logf("zmtp: connection from %v refused: %d connections already", nc.RemoteAddr(), r.opts.MaxConns)
			}
			continue
		}
		r.conns[nc] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.serve(nc)
	}
}

// isTemporary reports errors of accept that go away (EMFILE, ENFILE,
// ECONNABORTED…), which net reports as temporary.
func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary() || strings.Contains(err.Error(), "too many open files")
}

// serve runs one connection: its handshake, then its reader; the writer
// runs in a goroutine of its own. Whatever ends it closes the descriptor.
func (r *Router) serve(nc net.Conn) {
	defer r.wg.Done()
	defer func() {
		nc.Close()
		r.mu.Lock()
		delete(r.conns, nc)
		r.mu.Unlock()
	}()
	r.stats.handshakes.Add(1)
	c, err := handshake(nc, &r.opts, "ROUTER", nil)
	r.stats.handshakes.Add(-1)
	if err != nil {
		r.stats.failedHandshakes.Add(1)
		r.opts.logf("zmtp: handshake with %v: %v", nc.RemoteAddr(), err)
		return
	}
	p := &routerPeer{c: c, out: make(chan [][]byte, r.opts.SendHWM)}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if len(c.identity) > 0 && c.identity[0] != 0 {
		if _, dup := r.peers[string(c.identity)]; dup {
			r.mu.Unlock()
			// libzmq's ROUTER ignores a second peer with a routing id in use.
			r.opts.logf("zmtp: connection from %v refused: routing id %q in use", nc.RemoteAddr(), c.identity)
			return
		}
		p.id = c.identity
	} else {
		// As libzmq: a zero byte, then a 32-bit counter.
		for {
			r.nextID++
			p.id = binary.BigEndian.AppendUint32([]byte{0}, r.nextID)
			if _, used := r.peers[string(p.id)]; !used {
				break
			}
		}
	}
	r.peers[string(p.id)] = p
	r.mu.Unlock()

	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		r.write(p, stop)
	}()
	r.read(p)
	r.mu.Lock()
	delete(r.peers, string(p.id))
	r.mu.Unlock()
	close(stop)
	c.close()
	<-writerDone
}

// read delivers p's messages until its connection fails or the Router
// closes. While the Router's owner does not take messages, it waits, and
// TCP pushes back on the peer.
func (r *Router) read(p *routerPeer) {
	for {
		m, err := p.c.readMsg()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.opts.logf("zmtp: peer %x: %v", p.id, err)
			}
			return
		}
		m.Peer = p.id
		select {
		case r.in <- m:
		case <-r.done:
			return
		}
	}
}

// write writes p's queued messages, flushing when the queue is empty, each
// write bounded by the write timeout. A failed write closes the connection.
func (r *Router) write(p *routerPeer, stop <-chan struct{}) {
	for {
		var msg [][]byte
		select {
		case msg = <-p.out:
		case <-stop:
			return
		}
		deadline := time.Now().Add(r.opts.WriteTimeout)
		err := p.c.writeMsg(msg, deadline, len(p.out) == 0)
		if err != nil {
			r.opts.logf("zmtp: peer %x: write: %v", p.id, err)
			p.c.close()
			return
		}
	}
}
