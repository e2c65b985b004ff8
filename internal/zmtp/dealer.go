package zmtp

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// ReconnectInterval is how long a Dealer waits before it connects again
// after a failed or lost connection (libzmq's default ZMQ_RECONNECT_IVL).
const ReconnectInterval = 100 * time.Millisecond

// Dealer is a ZeroMQ DEALER socket connected to one endpoint. As libzmq's,
// it connects in the background and reconnects whenever the connection is
// lost; Send waits for a connection, and a message lost with a connection
// is not sent again.
type Dealer struct {
	opts Options
	ep   endpoint
	in   chan [][]byte
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	cur   *conn         // the connection, nil while there is none
	ready chan struct{} // closed while cur is set
	lost  int           // connections lost so far, for tests
}

// Dial creates a DEALER connected to endpoint (tcp://HOST:PORT or
// ipc://PATH). It returns at once; the connection is made in the
// background (see Connected).
func Dial(endpoint string, opts Options) (*Dealer, error) {
	ep, err := parseEndpoint(endpoint, false)
	if err != nil {
		return nil, err
	}
	if len(opts.Identity) > 255 {
		return nil, errors.New("zmtp: identity longer than 255 bytes")
	}
	d := &Dealer{
		opts:  opts.withDefaults(),
		ep:    ep,
		done:  make(chan struct{}),
		ready: make(chan struct{}),
	}
	d.in = make(chan [][]byte, d.opts.SendHWM)
	d.wg.Add(1)
	go d.run()
	return d, nil
}

// Connected waits until the Dealer has a connection past its handshake,
// until stop or cancel is closed (either may be nil), or until deadline; it
// returns nil, ErrClosed (stop, cancel or Close) or ErrTimeout.
func (d *Dealer) Connected(stop, cancel <-chan struct{}, deadline time.Time) error {
	_, err := d.conn(stop, cancel, deadline)
	return err
}

// conn returns the current connection, waiting for one.
func (d *Dealer) conn(stop, cancel <-chan struct{}, deadline time.Time) (*conn, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		d.mu.Lock()
		c, ready := d.cur, d.ready
		d.mu.Unlock()
		if c != nil {
			return c, nil
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		select {
		case <-ready:
		case <-stop:
			return nil, ErrClosed
		case <-cancel:
			return nil, ErrClosed
		case <-d.done:
			return nil, ErrClosed
		case <-timer.C:
			return nil, ErrTimeout
		}
	}
}

// Send writes msg by deadline, first waiting (until stop or cancel is
// closed, or deadline) for a connection. The frames are written before Send returns,
// so the caller may reuse them. A message whose connection fails while it
// is written is lost, as with libzmq: Send returns nil and no answer will
// come.
func (d *Dealer) Send(stop, cancel <-chan struct{}, deadline time.Time, msg [][]byte) error {
	c, err := d.conn(stop, cancel, deadline)
	if err != nil {
		return err
	}
	if err := c.writeMsg(msg, deadline, true); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(deadline) {
			c.close() // the peer has part of a message: this connection is done
			return ErrTimeout
		}
		c.close()
	}
	return nil
}

// Recv waits for a message until stop or cancel is closed (either may be
// nil) or deadline.
func (d *Dealer) Recv(stop, cancel <-chan struct{}, deadline time.Time) ([][]byte, error) {
	select {
	case m := <-d.in:
		return m, nil
	default:
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case m := <-d.in:
		return m, nil
	case <-stop:
		return nil, ErrClosed
	case <-cancel:
		return nil, ErrClosed
	case <-d.done:
		return nil, ErrClosed
	case <-timer.C:
		return nil, ErrTimeout
	}
}

// Close closes the connection and stops reconnecting. Messages not yet
// received are dropped.
func (d *Dealer) Close() error {
	d.mu.Lock()
	select {
	case <-d.done:
		d.mu.Unlock()
		return nil
	default:
	}
	close(d.done)
	if d.cur != nil {
		d.cur.close()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// run connects, reads, and reconnects after each lost connection, until
// Close.
func (d *Dealer) run() {
	defer d.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-d.done
		cancel()
	}()
	var dialer net.Dialer
	for {
		nc, err := dialer.DialContext(ctx, d.ep.network, d.ep.address)
		if err == nil {
			d.serve(nc)
		}
		select {
		case <-d.done:
			return
		case <-time.After(ReconnectInterval):
		}
	}
}

// serve runs one connection: handshake, then reads until it fails.
func (d *Dealer) serve(nc net.Conn) {
	defer nc.Close()
	d.mu.Lock()
	select {
	case <-d.done:
		d.mu.Unlock()
		return
	default:
	}
	d.mu.Unlock()
	// Close closes only d.cur: watch d.done during the handshake.
	hsDone := make(chan struct{})
	go func() {
		select {
		case <-d.done:
			nc.Close()
		case <-hsDone:
		}
	}()
	c, err := handshake(nc, &d.opts, "DEALER", d.opts.Identity)
	close(hsDone)
	if err != nil {
		d.opts.logf("zmtp: handshake with %s: %v", d.ep.address, err)
		return
	}
	d.mu.Lock()
	select {
	case <-d.done:
		d.mu.Unlock()
		return
	default:
	}
	d.cur = c
	close(d.ready)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.cur = nil
		d.ready = make(chan struct{})
		d.lost++
		d.mu.Unlock()
		c.close()
	}()
	for {
		m, err := c.readMsg()
		if err != nil {
			return
		}
		select {
		case d.in <- m.Frames:
		case <-d.done:
			return
		}
	}
}
