package server

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// DefaultAddr is the address New binds when given "": loopback, a port
// chosen by the system.
const DefaultAddr = "tcp://127.0.0.1:*"

// DefaultMaxMessageSize is the default cap on the size of one request.
const DefaultMaxMessageSize = 256 << 20

// The range of WithMaxMessageSize. Above MaxMaxMessageSize (1 TiB) a cap
// is not one: no machine holds such a request twice (libzmq's copy and the
// server's), and the server's sums of request sizes must not overflow.
const (
	MinMaxMessageSize = 1 << 10
	MaxMaxMessageSize = 1 << 40
)

// frameOverhead is what each frame of a request costs against the message
// cap on top of its bytes, so that millions of empty frames are too large.
const frameOverhead = wire.FrameOverhead

// ErrServerClosed is returned by Serve once Close has been called (or the
// server already served), and by New's options on a closed server.
var ErrServerClosed = errors.New("partd/server: server closed")

// Option configures a Server. Options are checked by New.
type Option func(*options) error

type options struct {
	maxMsg      int64
	workers     int
	maxQueued   int
	curveSecret string
	curveAllow  []string
	remoteClose bool
	reg         prometheus.Registerer
	logger      *slog.Logger
	lingerClose time.Duration
	storeName   string
}

// WithMaxMessageSize caps the size of one request in bytes (its frames plus a
// small per-frame overhead), from MinMaxMessageSize to MaxMaxMessageSize. A
// larger request is answered with a "too-large" error without reaching the
// store; a single frame larger than the cap makes libzmq close that peer's
// connection (ZMQ_MAXMSGSIZE). Default DefaultMaxMessageSize.
//
// What the cap bounds in memory: the server reads requests of at most 4 ×
// the cap in all before it waits for answers to go out, and keeps at most
// one cap of a request that is too large. Below it, libzmq checks the cap
// against each frame only and hands a message over once its last frame
// has arrived, so a message is held whole while it arrives whatever its
// size: a peer that sends one message of many frames, each under the cap,
// holds that much of the server's memory until the message is complete;
// the server then refuses it and gives the memory back to the system at
// once. The Go client sends each request as one payload frame and never
// sends one over the cap; against peers you do not trust, use WithCurve.
func WithMaxMessageSize(n int64) Option {
	return func(o *options) error {
		if n < MinMaxMessageSize || n > MaxMaxMessageSize {
			return fmt.Errorf("partd/server: max message size %d is not between %d bytes and %d (1 TiB)", n, MinMaxMessageSize, int64(MaxMaxMessageSize))
		}
		o.maxMsg = n
		return nil
	}
}

// WithWorkers sets how many goroutines run store operations concurrently.
// Default 2×GOMAXPROCS, at least 4.
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("partd/server: %d workers: want 1 to 4096", n)
		}
		o.workers = n
		return nil
	}
}

// WithRemoteClose lets a client's "close" command shut the server down. By
// default it is refused with a "forbidden" error.
func WithRemoteClose(allow bool) Option {
	return func(o *options) error {
		o.remoteClose = allow
		return nil
	}
}

// WithMetrics registers the server's Prometheus metrics with reg: requests
// and errors by command, bytes in and out, request latency, requests in
// flight, if the store is a partd.Sizer the bytes it holds in memory and,
// if it is a partd.Buffer (or compression layers over one), its spills.
// They read the figures the stat command reports. Close unregisters them.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(o *options) error {
		o.reg = reg
		return nil
	}
}

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("partd/server: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithStoreName sets how the stat command names the store, such as the
// (redacted) URI it was opened from. Default: the store's type, as
// "partd.Buffer".
func WithStoreName(name string) Option {
	return func(o *options) error {
		o.storeName = name
		return nil
	}
}

// Server serves one partd.Store on one ZeroMQ ROUTER socket. Create it with
// New, run Serve, stop it with Close.
type Server struct {
	store   partd.Store
	opts    options
	addr    string
	created time.Time

	// The ROUTER socket and the owner's wake-ups (transport.go), owned by
	// the goroutine running Serve (see the package doc).
	tr routerTransport

	jobs chan *request // owner -> workers; closed by the owner at shutdown

	repliesMu sync.Mutex // guards replies
	replies   []*reply   // workers -> owner

	mu       sync.Mutex // guards serving; closing is also read without it
	serving  bool
	closing  atomic.Bool
	done     chan struct{} // closed when the shutdown has finished
	closeErr error         // set before done is closed

	stats   counters
	metrics *metrics

	// release asks the releaser goroutine (run by Serve) to give the
	// heap's free memory back to the system: the owner sends after
	// discarding a large request, without waiting (capacity 1).
	release chan struct{}
}

// request is one message read from the ROUTER.
type request struct {
	peer     []byte   // routing id
	frames   [][]byte // the message, without the routing id
	size     int64
	tooLarge bool
	start    time.Time
}

// reply is a worker's answer: one or more messages to send to peer.
type reply struct {
	peer     []byte
	size     int64 // the request's size, for the owner's pending count
	msgs     [][][]byte
	shutdown bool // a permitted remote close: stop once sent
}

// counters are the figures the stat command reports and the Prometheus
// metrics read (metrics.go).
type counters struct {
	requests map[string]*atomic.Uint64      // fixed set of commands, built by New
	errorsBy map[errorLabels]*atomic.Uint64 // by command and code (errorCount), built by New
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	inflight atomic.Int64
}

var serverSeq atomic.Uint64

// New binds a server for store at addr, a ZeroMQ endpoint such as
// "tcp://127.0.0.1:5555", "tcp://127.0.0.1:*" (any free port; Addr reports
// it) or "ipc:///run/partd.sock". An empty addr is DefaultAddr. The server
// owns store from now on: its shutdown flushes (if the store has a Flush()
// error method) and closes it. Call Serve to start answering requests.
func New(store partd.Store, addr string, opts ...Option) (*Server, error) {
	if store == nil {
		return nil, errors.New("partd/server: nil store")
	}
	o := options{
		maxMsg:      DefaultMaxMessageSize,
		workers:     max(4, 2*runtime.GOMAXPROCS(0)),
		maxQueued:   16,
		logger:      slog.Default(),
		lingerClose: time.Second,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if addr == "" {
		addr = DefaultAddr
	}
	seq := serverSeq.Add(1)
	s := &Server{
		store:   store,
		opts:    o,
		created: time.Now(),
		jobs:    make(chan *request, o.workers*4),
		done:    make(chan struct{}),
		release: make(chan struct{}, 1),
	}
	s.stats.requests = make(map[string]*atomic.Uint64)
	for _, c := range commandLabels {
		s.stats.requests[c] = new(atomic.Uint64)
	}
	s.stats.errorsBy = newErrorCounts()
	tr, err := newTransport(transportConfig{
		addr: addr, seq: seq, maxMsg: o.maxMsg, lingerClose: o.lingerClose,
		curveSecret: o.curveSecret, curveAllow: o.curveAllow, logger: o.logger,
	})
	if err != nil {
		return nil, err
	}
	s.tr, s.addr = tr, tr.addr()
	if o.reg != nil {
		m, err := newMetrics(o.reg, s)
		if err != nil {
			s.abort()
			return nil, err
		}
		s.metrics = m
	}
	return s, nil
}

// Addr returns the endpoint the server is bound to, with the real port when
// the address asked for "*" (e.g. "tcp://127.0.0.1:41234").
func (s *Server) Addr() string { return s.addr }

// Serve answers requests until Close (or a permitted remote close), then
// finishes the requests in flight, flushes and closes the store and returns
// nil, or the error that stopped it. Serve may be called once; after Close it
// returns ErrServerClosed.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.serving || s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.serving = true
	s.mu.Unlock()

	s.opts.logger.Info("partd server listening", "addr", s.addr, "workers", s.opts.workers, "curve", s.tr.curve(), "transport", Transport)
	var workers sync.WaitGroup
	for range s.opts.workers {
		workers.Go(s.work)
	}
	workers.Go(s.releaser)
	err := s.loop()
	close(s.jobs)
	close(s.release)
	workers.Wait()
	s.shutdown(err)
	s.opts.logger.Info("partd server stopped", "addr", s.addr, "err", s.closeErr)
	if err != nil {
		return err
	}
	return nil
}

// Close stops the server: it stops accepting requests (later ones get a
// "closed" error), lets the requests in flight finish, flushes the store if it
// is a partd.Flusher, closes it, and returns the first error of
// these. Close waits for all of this. A second Close returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing.Store(true)
	serving := s.serving
	s.mu.Unlock()
	if !serving {
		// Nobody runs the owner loop: this goroutine owns the sockets now.
		s.shutdown(nil)
		return s.closeErr
	}
	s.wakeOwner()
	<-s.done
	return s.closeErr
}

// wakeOwner asks the owner to stop. The owner also checks s.closing at
// least once a second, so a lost wake-up only delays Close.
func (s *Server) wakeOwner() { s.tr.quit() }

// shutdown closes the transport, flushes and closes the store. It runs
// once, in the goroutine that owns the sockets.
func (s *Server) shutdown(loopErr error) {
	var errs []error
	if loopErr != nil {
		errs = append(errs, loopErr)
	}
	// The transport first: no request arrives once the store is closing.
	trErr := s.tr.close()
	if err := partd.Flush(s.store); err != nil {
		errs = append(errs, fmt.Errorf("partd/server: flush store: %w", err))
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("partd/server: close store: %w", err))
	}
	if trErr != nil {
		errs = append(errs, trErr)
	}
	if s.metrics != nil {
		s.metrics.unregister()
	}
	s.closeErr = errors.Join(errs...)
	close(s.done)
}

// abort undoes a failed New.
func (s *Server) abort() {
	s.tr.close()
}

// peer is the owner's bookkeeping for one DEALER identity with work under
// way: its requests run one at a time, in order.
type peer struct {
	queue []*request
}

// owner is the bookkeeping of the owner goroutine, the one running Serve
// (through loop). Only that goroutine touches an owner, and only it uses the
// ROUTER socket, the wake-up PULL socket and the ZAP REP socket while Serve
// runs; so nothing here needs a lock.
type owner struct {
	s           *Server
	peers       map[string]*peer // peers with a request dispatched, by routing id
	inflight    int              // requests dispatched and not yet answered
	pending     int64            // bytes of requests read and not yet answered (dispatched or queued)
	maxPending  int64            // stop reading when pending reaches this
	maxInflight int              // stop reading when inflight reaches this (cap(s.jobs))
	stopping    bool             // Close or a remote close asked to stop
}

// loop is the owner: it reads requests, dispatches them, sends replies. It
// returns when stopping and nothing is in flight. It runs in the goroutine
// running Serve, which owns the ROUTER, wake-up and ZAP sockets; every step
// below runs in that goroutine.
func (s *Server) loop() error {
	o := s.newOwner()
	for {
		if o.finished() {
			return nil
		}
		if err := o.poll(); err != nil {
			return err
		}
		o.drainWakeups()
		o.sendReplies()
		s.tr.authenticate()
		o.readRequests()
	}
}

// newOwner sets up the owner's bookkeeping.
func (s *Server) newOwner() *owner {
	return &owner{
		s:           s,
		peers:       make(map[string]*peer),
		maxPending:  4 * s.opts.maxMsg,
		maxInflight: cap(s.jobs),
	}
}

// finished notes a Close seen through s.closing and reports whether the loop
// may return: stopping, with no request in flight.
func (o *owner) finished() bool {
	if o.s.closing.Load() {
		o.stopping = true
	}
	return o.stopping && o.inflight == 0
}

// canRead reports whether the owner may read another request: fewer than
// maxInflight requests in flight and fewer than maxPending bytes unanswered.
func (o *owner) canRead() bool {
	return o.inflight < o.maxInflight && o.pending < o.maxPending
}

// poll waits up to a second for a request, a wake-up or a ZAP request. While
// the owner may not read more (canRead), it stops polling the ROUTER for
// input, so ZeroMQ's queues and then TCP push back on clients. Owner
// goroutine only.
func (o *owner) poll() error {
	return o.s.tr.wait(o.canRead(), time.Second)
}

// drainWakeups consumes the wake-ups: workers send empty ones, Close sends
// one that makes the owner stop. Owner goroutine only.
func (o *owner) drainWakeups() {
	if o.s.tr.drainWakeups() {
		o.stopping = true
	}
}

// sendReplies takes the replies the workers queued in s.replies and sends
// them on the ROUTER, then dispatches the next queued request of each peer
// answered. A reply to a permitted remote close makes the server stop. Owner
// goroutine only.
func (o *owner) sendReplies() {
	s := o.s
	s.repliesMu.Lock()
	reps := s.replies
	s.replies = nil
	s.repliesMu.Unlock()
	for _, rep := range reps {
		s.send(rep.peer, rep.msgs)
		o.inflight--
		o.pending -= rep.size
		s.stats.inflight.Store(int64(o.inflight))
		if rep.shutdown {
			s.mu.Lock()
			s.closing.Store(true)
			s.mu.Unlock()
			o.stopping = true
		}
		o.next(string(rep.peer))
	}
}

// next dispatches the oldest request queued behind the one of peer key just
// answered, or forgets the peer if none is queued.
func (o *owner) next(key string) {
	p := o.peers[key]
	if p == nil || len(p.queue) == 0 {
		delete(o.peers, key)
		return
	}
	r := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	o.dispatch(r)
}

// readRequests reads up to a batch of 64 requests from the ROUTER without
// waiting, so replies are not starved, and stops early when canRead says
// so. Owner goroutine only.
func (o *owner) readRequests() {
	for range 64 {
		if !o.canRead() {
			return
		}
		r := o.s.tr.recv()
		if r == nil {
			return
		}
		o.admit(r)
	}
}

// releaseAfter is how many bytes of a request too large to serve make the
// owner ask for the heap's free memory to go back to the system: the frames
// libzmq handed over were copied into the heap one by one to be dropped,
// and the runtime would keep that memory for a while.
const releaseAfter = 4 << 20

// releaser gives the heap's free memory back to the system whenever the
// owner asks, until s.release is closed. It runs beside the workers.
func (s *Server) releaser() {
	for range s.release {
		debug.FreeOSMemory()
	}
}

// admit takes one request just read: while stopping it is answered with a
// "closed" error; if its peer already has a request under way it waits in the
// peer's queue (or, past maxQueued, is answered with a "busy" error);
// otherwise it goes to the workers. Owner goroutine only (errors are sent on
// the ROUTER).
func (o *owner) admit(r *request) {
	s := o.s
	s.stats.bytesIn.Add(uint64(r.size))
	if r.tooLarge && r.size-s.opts.maxMsg >= releaseAfter {
		select {
		case s.release <- struct{}{}:
		default: // a release is already due
		}
	}
	if o.stopping {
		s.send(r.peer, errorReply(r, &wire.Error{Code: wire.CodeClosed, Message: "server is shutting down"}))
		s.countError("", wire.CodeClosed)
		return
	}
	key := string(r.peer)
	p, busy := o.peers[key]
	if !busy {
		o.peers[key] = &peer{}
		o.pending += r.size
		o.dispatch(r)
		return
	}
	if len(p.queue) >= s.opts.maxQueued {
		s.send(r.peer, errorReply(r, &wire.Error{Code: wire.CodeBusy,
			Message: fmt.Sprintf("more than %d requests pipelined", s.opts.maxQueued)}))
		s.countError("", wire.CodeBusy)
		return
	}
	o.pending += r.size
	p.queue = append(p.queue, r)
}

// dispatch hands r to the workers through s.jobs. It never blocks: the owner
// dispatches only while inflight < maxInflight = cap(s.jobs).
func (o *owner) dispatch(r *request) {
	o.inflight++
	o.s.stats.inflight.Store(int64(o.inflight))
	o.s.jobs <- r
}

// send sends msgs to peer. A ROUTER drops what it cannot route (a peer that
// went away), which is what we want. Owner goroutine only.
func (s *Server) send(peer []byte, msgs [][][]byte) {
	s.stats.bytesOut.Add(s.tr.send(peer, msgs))
}

// work is a worker goroutine: it runs requests against the store and queues
// the replies for the owner, waking it through its own PUSH socket.
func (s *Server) work() {
	w := s.tr.newWaker()
	if w != nil {
		defer w.close()
	}
	for r := range s.jobs {
		rep := s.handle(r)
		s.repliesMu.Lock()
		wasEmpty := len(s.replies) == 0
		s.replies = append(s.replies, rep)
		s.repliesMu.Unlock()
		if wasEmpty && w != nil {
			w.wake()
		}
	}
}
