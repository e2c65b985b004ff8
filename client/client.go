// Package client is the Go client of a partd server (package server) or of
// Python partd's server (partd.zmq.Server). A *Client is a partd.Store.
//
//	c, err := client.Dial("tcp://127.0.0.1:5555", client.WithTimeout(10*time.Second))
//	...
//	defer c.Close()
//	err = c.Append(map[string][]byte{"x": []byte("hello")}) // nil: the server has applied it
//
// Every call waits for the server's answer: when Append returns nil the
// server has applied the append. A call returns an error wrapping
// ErrTimeout when no answer comes within the timeout (the server is gone,
// restarted or overloaded); after a timeout the outcome of that call is
// unknown. The client then drops that socket and the next call opens a new
// one, so a restarted server is picked up again.
//
// # Cancellation
//
// [DialContext] and [Client.WithContext] bound calls by a context as well:
// a call whose context is done returns its error (context.Canceled or
// context.DeadlineExceeded, wrapped) within a few tens of milliseconds, and
// the client stays usable for other calls. As after a timeout, the outcome
// of a call cancelled in flight is unknown. WithContext returns a view, not
// a new client, so a context reaches through the layers stacked on it:
//
//	z := compress.Zstd(c.WithContext(ctx)) // every call of z ends when ctx does
//
// Dial fails within about a second when nothing accepts a connection at the
// address (ZeroMQ itself would retry forever), with an error that says no
// partd server answered there; a server that accepts the connection has the
// full timeout to answer the handshake.
//
// With a partd Go server the client speaks the Go dialect of package wire:
// error replies come back as errors that match partd.ErrInvalidKey,
// partd.ErrCorrupt and partd.ErrClosed with errors.Is, and Keys, Stat and
// the capabilities of package partd (Sizes, KeysPrefix, KeysPage, Pop) are
// one request each. With Python's server it speaks Python partd's protocol:
// Keys, Stat and the capabilities return errors.ErrUnsupported (so the
// helpers partd.Sizes and partd.Pop fall back to Get and Delete), keys are
// checked locally (Python's server dies on a bad key), and a key containing
// "-|-" cannot be sent.
//
// # Goroutines and sockets
//
// A Client runs a pool of connection goroutines (WithConns). Each owns one
// DEALER socket, created and closed by that goroutine, and runs one request
// at a time; calls reach an idle connection goroutine through a channel, so
// up to WithConns calls are in flight at once, from any number of
// goroutines. The client has no locks besides its own small lifecycle state;
// Close stops the connection goroutines and waits for them.
//
// # Builds
//
// With cgo the sockets are libzmq's (pebbe/zmq4); built with CGO_ENABLED=0
// they are internal/zmtp's, in pure Go, which connect, reconnect and lose
// a message with a broken connection as libzmq's do ([Transport] says
// which). The pure-Go build has no CURVE: WithCurve is an error there.
package client

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// ErrTimeout is wrapped by the error of a call that got no answer within the
// client's timeout.
var ErrTimeout = errors.New("no answer from server")

// DefaultTimeout is how long a call waits for its answer unless WithTimeout
// says otherwise.
const DefaultTimeout = 30 * time.Second

// Stats is the result of Stat.
type Stats = wire.Stats

// Option configures a Client.
type Option func(*options) error

type options struct {
	timeout     time.Duration
	conns       int
	curveServer string
	curvePublic string
	curveSecret string
}

// WithTimeout bounds how long each call waits for a free connection, for the
// server's answer, and for Dial's handshake. Default DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("partd/client: timeout %v is not positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WithConns sets how many sockets (and so requests in flight) the client
// uses at most. Sockets are opened on first use. Default 8.
func WithConns(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("partd/client: %d connections: want 1 to 1024", n)
		}
		o.conns = n
		return nil
	}
}

// dialect of the server, learned in the first handshake.
const (
	dialectUnknown int32 = iota
	dialectPython
	dialectGo
)

// Client is a partd.Store backed by a partd server. It is safe for
// concurrent use. Close closes the client, not the server's store.
type Client struct {
	addr    string
	opts    options
	tr      clientTransport
	calls   chan *call    // callers -> connection goroutines
	quit    chan struct{} // closed by Close
	conns   sync.WaitGroup
	closed  atomic.Bool
	once    sync.Once
	dialect atomic.Int32
	maxMsg  atomic.Int64 // the server's message cap, 0 if unknown
	nextID  atomic.Uint64
}

var (
	_ partd.Store        = (*Client)(nil)
	_ partd.KeySizer     = (*Client)(nil)
	_ partd.PrefixLister = (*Client)(nil)
	_ partd.KeyPager     = (*Client)(nil)
	_ partd.Popper       = (*Client)(nil)
)

// call is one request on its way to a connection goroutine.
type call struct {
	ctx      context.Context
	cmd      string
	payload  [][]byte
	deadline time.Time
	done     chan result // buffered: the connection goroutine never waits
}

type result struct {
	frames [][]byte
	err    error
}

// Dial connects to the server at addr ("tcp://127.0.0.1:5555",
// "ipc:///run/partd.sock") and performs a handshake to learn which protocol
// it speaks. It is DialContext with context.Background().
func Dial(addr string, opts ...Option) (*Client, error) {
	return DialContext(context.Background(), addr, opts...)
}

// dialConnect bounds how long Dial waits for anything to accept a
// connection at the address.
const dialConnect = time.Second

// DialContext connects to the server at addr and performs a handshake to
// learn which protocol it speaks. It fails with an error wrapping
// ErrTimeout, saying that no partd server answered at addr, when nothing
// accepts a connection there within about a second or a server that
// accepted one does not answer the handshake within the timeout; and with
// ctx's error if ctx is done first. ctx bounds the dial only, not the
// client's later calls (see WithContext).
func DialContext(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout, conns: 8}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if addr == "" {
		return nil, errors.New("partd/client: empty address")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("partd/client: dial %s: %w", addr, err)
	}
	c := &Client{addr: addr, opts: o, calls: make(chan *call), quit: make(chan struct{})}
	tr, err := newTransport(c)
	if err != nil {
		return nil, err
	}
	c.tr = tr
	for range o.conns {
		c.conns.Add(1)
		go c.run()
	}
	if err := c.probe(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.do(ctx, wire.CmdSyn); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("partd/client: dial %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("partd/client: no partd server answered at %s: %w", addr, err)
	}
	return c, nil
}

// probe waits, up to dialConnect (or the timeout, if shorter), for anything
// to accept a connection at the client's address, on a socket of its own:
// ZeroMQ connects in the background and retries forever, so without it a
// dial to a dead address would wait the whole timeout. A server that
// accepted has the rest of the timeout to answer the handshake.
func (c *Client) probe(ctx context.Context) error {
	wait := min(dialConnect, c.opts.timeout)
	err := c.tr.probe(ctx, wait)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTimeout):
		return fmt.Errorf("partd/client: no partd server answered at %s (nothing accepted a connection within %v): %w", c.addr, wait, ErrTimeout)
	}
	return fmt.Errorf("partd/client: dial %s: probe: %w", c.addr, err)
}

// Addr returns the address the client was dialed with.
func (c *Client) Addr() string { return c.addr }

// Extended reports whether the server speaks the Go dialect (a partd Go
// server) rather than only Python partd's protocol.
func (c *Client) Extended() bool { return c.dialect.Load() == dialectGo }

// Close stops the client's connection goroutines and closes their sockets.
// Calls in flight return ErrClosed. Later calls return partd.ErrClosed; a
// second Close returns nil. The server and its store are left running.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		close(c.quit)
		c.conns.Wait()
		c.tr.close()
	})
	return nil
}

// do sends one request and waits for its answer, or until the timeout or
// ctx ends the wait.
func (c *Client) do(ctx context.Context, cmd string, payload ...[]byte) ([][]byte, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("partd/client: %s: %w", cmd, partd.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("partd/client: %s: %w", cmd, err)
	}
	cl := &call{ctx: ctx, cmd: cmd, payload: payload, deadline: time.Now().Add(c.opts.timeout), done: make(chan result, 1)}
	timer := time.NewTimer(c.opts.timeout)
	defer timer.Stop()
	select {
	case c.calls <- cl:
	case <-c.quit:
		return nil, fmt.Errorf("partd/client: %s: %w", cmd, partd.ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("partd/client: %s: %w", cmd, ctx.Err())
	case <-timer.C:
		return nil, fmt.Errorf("partd/client: %s: %w (all %d connections busy for %v)", cmd, ErrTimeout, c.opts.conns, c.opts.timeout)
	}
	r := <-cl.done // the connection goroutine answers every call it takes
	if r.err != nil {
		return nil, fmt.Errorf("partd/client: %s: %w", cmd, r.err)
	}
	return r.frames, nil
}

// checkKeys validates keys locally when the server is Python's, which dies
// on keys it cannot store.
func (c *Client) checkKeys(keys ...string) error {
	if c.dialect.Load() != dialectPython {
		return nil
	}
	for _, k := range keys {
		if err := partd.ValidateKey(k); err != nil {
			return err
		}
		if strings.Contains(k, wire.TupleSep) {
			return fmt.Errorf("partd/client: key %q: %w: %q cannot travel to a Python server", k, partd.ErrInvalidKey, wire.TupleSep)
		}
	}
	return nil
}

// checkClosed returns ErrClosed if the client is closed, for calls that
// send nothing.
func (c *Client) checkClosed(op string) error {
	if c.closed.Load() {
		return fmt.Errorf("partd/client: %s: %w", op, partd.ErrClosed)
	}
	return nil
}

// keyFrames returns keys as frames.
func keyFrames(keys []string) [][]byte {
	payload := make([][]byte, len(keys))
	for i, k := range keys {
		payload[i] = []byte(k)
	}
	return payload
}

// Append adds each value to the end of its key. When it returns nil the
// server has applied the whole batch.
func (c *Client) Append(data map[string][]byte) error {
	return c.append(context.Background(), data)
}

func (c *Client) append(ctx context.Context, data map[string][]byte) error {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	if err := c.checkKeys(keys...); err != nil {
		return err
	}
	payload := make([][]byte, 0, 2*len(data))
	for _, k := range keys {
		payload = append(payload, []byte(k), data[k])
	}
	_, err := c.do(ctx, wire.CmdAppend, payload...)
	return err
}

// Get returns one value per key, in order; an unknown key yields an empty
// value.
func (c *Client) Get(keys ...string) ([][]byte, error) {
	return c.values(context.Background(), wire.CmdGet, keys)
}

// values runs get or pop: one value per key.
func (c *Client) values(ctx context.Context, cmd string, keys []string) ([][]byte, error) {
	if len(keys) == 0 {
		if err := c.checkClosed(cmd); err != nil {
			return nil, err
		}
		return [][]byte{}, nil
	}
	if err := c.checkKeys(keys...); err != nil {
		return nil, err
	}
	var vs [][]byte
	var err error
	if cmd == wire.CmdGet {
		vs, err = c.do(ctx, cmd, keyFrames(keys)...)
	} else {
		vs, err = c.extension(ctx, cmd, keyFrames(keys)...)
	}
	if err != nil {
		return nil, err
	}
	if len(vs) != len(keys) {
		return nil, fmt.Errorf("partd/client: %s: server sent %d values for %d keys", cmd, len(vs), len(keys))
	}
	for i, v := range vs {
		if len(v) == 0 {
			vs[i] = nil
		}
	}
	return vs, nil
}

// Set replaces a key's bytes (Python partd's iset). Against a partd Go
// server it always replaces; Python's server ignores an iset of a key it has
// iset before (its iset is idempotent).
func (c *Client) Set(key string, value []byte) error {
	return c.set(context.Background(), key, value)
}

func (c *Client) set(ctx context.Context, key string, value []byte) error {
	if err := c.checkKeys(key); err != nil {
		return err
	}
	_, err := c.do(ctx, wire.CmdIset, []byte(key), value)
	return err
}

// Delete removes keys; unknown keys are not an error.
func (c *Client) Delete(keys ...string) error {
	return c.delete(context.Background(), keys)
}

func (c *Client) delete(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return c.checkClosed("delete")
	}
	if err := c.checkKeys(keys...); err != nil {
		return err
	}
	_, err := c.do(ctx, wire.CmdDelete, keyFrames(keys)...)
	return err
}

// Keys returns every key, sorted. It needs a partd Go server (the keys
// extension); with Python's server it returns errors.ErrUnsupported.
func (c *Client) Keys() ([]string, error) {
	return c.keys(context.Background())
}

func (c *Client) keys(ctx context.Context) ([]string, error) {
	fs, err := c.extension(ctx, wire.CmdKeys)
	if err != nil {
		return nil, err
	}
	return frameKeys(fs), nil
}

func frameKeys(fs [][]byte) []string {
	keys := make([]string, len(fs))
	for i, f := range fs {
		keys[i] = string(f)
	}
	return keys
}

// Drop removes everything from the server's store.
func (c *Client) Drop() error {
	_, err := c.do(context.Background(), wire.CmdDrop)
	return err
}

// Sizes returns the number of bytes each key holds, in one request that
// carries no value back (the sizes extension; see partd.KeySizer). With
// Python's server, or a partd server older than the extension, it returns
// errors.ErrUnsupported, and partd.Sizes reads the values instead.
func (c *Client) Sizes(keys ...string) ([]int64, error) {
	return c.sizes(context.Background(), keys)
}

func (c *Client) sizes(ctx context.Context, keys []string) ([]int64, error) {
	if len(keys) == 0 {
		if err := c.checkClosed("sizes"); err != nil {
			return nil, err
		}
		return []int64{}, nil
	}
	fs, err := c.extension(ctx, wire.CmdSizes, keyFrames(keys)...)
	if err != nil {
		return nil, err
	}
	if len(fs) != 1 {
		return nil, fmt.Errorf("partd/client: sizes: server sent %d frames, want 1", len(fs))
	}
	sizes, err := wire.UnpackSizes(fs[0], len(keys))
	if err != nil {
		return nil, fmt.Errorf("partd/client: sizes: %w", err)
	}
	return sizes, nil
}

// KeysPrefix returns, sorted, the keys that start with prefix, in one
// request (the list extension; see partd.PrefixLister). With Python's
// server it returns errors.ErrUnsupported.
func (c *Client) KeysPrefix(prefix string) ([]string, error) {
	return c.keysPrefix(context.Background(), prefix)
}

func (c *Client) keysPrefix(ctx context.Context, prefix string) ([]string, error) {
	fs, err := c.extension(ctx, wire.CmdList, []byte(prefix))
	if err != nil {
		return nil, err
	}
	return frameKeys(fs), nil
}

// KeysPage returns, sorted, at most limit keys that start with prefix and
// sort after after (see partd.KeyPager): one request per wire.MaxListPage
// keys. With Python's server it returns errors.ErrUnsupported.
func (c *Client) KeysPage(prefix, after string, limit int) ([]string, error) {
	return c.keysPage(context.Background(), prefix, after, limit)
}

func (c *Client) keysPage(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("partd/client: keys page: limit %d is not positive", limit)
	}
	var keys []string
	for len(keys) < limit {
		n := min(limit-len(keys), wire.MaxListPage)
		fs, err := c.extension(ctx, wire.CmdList, []byte(prefix), []byte(after), strconv.AppendInt(nil, int64(n), 10))
		if err != nil {
			return nil, err
		}
		if len(fs) > n {
			return nil, fmt.Errorf("partd/client: list: server sent %d keys for a page of %d", len(fs), n)
		}
		keys = append(keys, frameKeys(fs)...)
		if len(fs) < n {
			break
		}
		after = keys[len(keys)-1]
	}
	if keys == nil {
		keys = []string{}
	}
	return keys, nil
}

// Pop returns each key's bytes and deletes the keys, in one request (the
// pop extension; see partd.Popper): atomic where the server's store pops
// atomically (every store of package partd does). With Python's server, or
// a partd server older than the extension, it returns
// errors.ErrUnsupported, and partd.Pop gets and then deletes instead.
func (c *Client) Pop(keys ...string) ([][]byte, error) {
	return c.values(context.Background(), wire.CmdPop, keys)
}

// extension runs a command of the Go dialect that Python partd's server
// lacks. It returns errors.ErrUnsupported where the server lacks it.
func (c *Client) extension(ctx context.Context, cmd string, payload ...[]byte) ([][]byte, error) {
	if c.dialect.Load() == dialectPython && !c.closed.Load() {
		return nil, fmt.Errorf("partd/client: %s: Python partd server: %w", cmd, errors.ErrUnsupported)
	}
	fs, err := c.do(ctx, cmd, payload...)
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeBadRequest && strings.HasPrefix(we.Message, "unknown command") {
		return nil, fmt.Errorf("partd/client: %s: the server predates it (%v): %w", cmd, we, errors.ErrUnsupported)
	}
	return fs, err
}

// Stat returns the server's figures (the stat extension). With Python's
// server it returns errors.ErrUnsupported.
func (c *Client) Stat() (Stats, error) {
	fs, err := c.extension(context.Background(), wire.CmdStat)
	if err != nil {
		return Stats{}, err
	}
	var st Stats
	if len(fs) != 1 {
		return st, fmt.Errorf("partd/client: stat: server sent %d frames, want 1", len(fs))
	}
	if err := json.Unmarshal(fs[0], &st); err != nil {
		return st, fmt.Errorf("partd/client: stat: %w", err)
	}
	return st, nil
}

// Ping asks the server for an answer and returns nil if one came in time.
func (c *Client) Ping() error {
	_, err := c.do(context.Background(), wire.CmdSyn)
	return err
}

// CloseServer asks the server to shut down. A server refuses it (an error
// reply with code "forbidden") unless it was started allowing remote close.
func (c *Client) CloseServer() error {
	_, err := c.do(context.Background(), wire.CmdClose)
	return err
}

// run is a connection goroutine: it owns one DEALER socket, opened on first
// use and reopened after a failure.
func (c *Client) run() {
	defer c.conns.Done()
	var sock dealerConn
	defer func() {
		if sock != nil {
			sock.close()
		}
	}()
	for {
		select {
		case <-c.quit:
			return
		case cl := <-c.calls:
			frames, err := c.roundTrip(&sock, cl)
			if err != nil && !isRemote(err) && sock != nil {
				// The socket may be out of step (a late answer could still
				// come): drop it, the next call opens a fresh one.
				sock.close()
				sock = nil
			}
			cl.done <- result{frames, err}
		}
	}
}

func isRemote(err error) bool {
	var we *wire.Error
	return errors.As(err, &we)
}

// open creates and connects a socket and performs the handshake.
func (c *Client) open(cl *call) (dealerConn, error) {
	sock, err := c.tr.newDealer()
	if err != nil {
		return nil, err
	}
	// Handshake: "syn" "partd/1". Python's server answers "ack"; ours
	// answers "ack" "partd/1".
	if err := c.send(sock, cl, []byte(wire.CmdSyn), []byte(wire.Version)); err != nil {
		sock.close()
		return nil, err
	}
	msg, err := c.recv(sock, cl)
	if err != nil {
		sock.close()
		return nil, err
	}
	switch {
	case len(msg) >= 2 && string(msg[0]) == wire.Ack && string(msg[1]) == wire.Version:
		c.dialect.Store(dialectGo)
		if len(msg) >= 3 {
			if n, err := strconv.ParseInt(string(msg[2]), 10, 64); err == nil && n > 0 {
				c.maxMsg.Store(n)
			}
		}
	case len(msg) == 1 && string(msg[0]) == wire.Ack:
		c.dialect.Store(dialectPython)
	default:
		sock.close()
		return nil, fmt.Errorf("unexpected handshake answer of %d frames", len(msg))
	}
	return sock, nil
}

// roundTrip runs one call on the goroutine's socket.
func (c *Client) roundTrip(sockp *dealerConn, cl *call) ([][]byte, error) {
	if *sockp == nil {
		sock, err := c.open(cl)
		if err != nil {
			return nil, err
		}
		*sockp = sock
		if cl.cmd == wire.CmdSyn {
			return nil, nil // the handshake was the ping
		}
	}
	sock := *sockp
	if c.dialect.Load() == dialectGo {
		return c.roundTripGo(sock, cl)
	}
	return c.roundTripPython(sock, cl)
}

func (c *Client) roundTripGo(sock dealerConn, cl *call) ([][]byte, error) {
	id := binary.BigEndian.AppendUint64(nil, c.nextID.Add(1))
	msg := [][]byte{[]byte(wire.Version), id, []byte(cl.cmd)}
	if len(cl.payload) > 0 {
		bp := packPool.Get().(*[]byte)
		n := wire.PackedLen(cl.payload...)
		if cap(*bp) < n {
			*bp = make([]byte, 0, n)
		}
		if limit := c.maxMsg.Load(); limit > 0 {
			if size := int64(n+len(wire.Version)+len(id)+len(cl.cmd)) + 4*wire.FrameOverhead; size > limit {
				packPool.Put(bp)
				return nil, &wire.Error{Code: wire.CodeTooLarge,
					Message: fmt.Sprintf("request of %d bytes is over the server's cap of %d (not sent)", size, limit)}
			}
		}
		msg = append(msg, wire.Pack((*bp)[:0], cl.payload...))
		err := c.send(sock, cl, msg...) // ZeroMQ copies the frame: the buffer is free again
		if cap(*bp) <= maxPooledPack {
			packPool.Put(bp)
		}
		if err != nil {
			return nil, err
		}
	} else if err := c.send(sock, cl, msg...); err != nil {
		return nil, err
	}
	var results [][]byte // of the parts received so far
	for {
		rep, err := c.recv(sock, cl)
		if err != nil {
			return nil, err
		}
		if len(rep) < 2 || string(rep[0]) != string(id) {
			continue // a stale or foreign answer
		}
		switch string(rep[1]) {
		case wire.StatusPart:
			results = append(results, rep[2:]...)
			continue
		case wire.StatusOK:
			if results == nil {
				return rep[2:], nil
			}
			return append(results, rep[2:]...), nil
		case wire.StatusErr:
			we := &wire.Error{Code: wire.CodeInternal, Message: "malformed error reply"}
			if len(rep) >= 4 {
				we.Code, we.Message = string(rep[2]), string(rep[3])
			}
			return nil, we
		}
		return nil, fmt.Errorf("unexpected reply status %q", rep[1])
	}
}

// roundTripPython speaks Python partd's protocol, but waits for the ack of
// each request before returning, so a returned call has been applied.
func (c *Client) roundTripPython(sock dealerConn, cl *call) ([][]byte, error) {
	switch cl.cmd {
	case wire.CmdKeys, wire.CmdStat, wire.CmdSizes, wire.CmdList, wire.CmdPop:
		return nil, errors.ErrUnsupported
	}
	msg := make([][]byte, 0, 1+len(cl.payload))
	msg = append(msg, []byte(cl.cmd))
	for i, f := range cl.payload {
		if cl.cmd != wire.CmdAppend || i%2 == 0 {
			if cl.cmd != wire.CmdIset || i == 0 {
				f = []byte(wire.ToPython(string(f)))
			}
		}
		msg = append(msg, f)
	}
	if err := c.send(sock, cl, msg...); err != nil {
		return nil, err
	}
	var out [][]byte
	if cl.cmd == wire.CmdGet {
		res, err := c.recv(sock, cl)
		if err != nil {
			return nil, err
		}
		out = res
	}
	if err := c.recvAck(sock, cl); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) recvAck(sock dealerConn, cl *call) error {
	ack, err := c.recv(sock, cl)
	if err != nil {
		return err
	}
	if len(ack) == 3 && string(ack[0]) == wire.StatusErr {
		// A partd Go server's error in the Python dialect: the ack follows.
		if _, err := c.recv(sock, cl); err != nil {
			return err
		}
		return &wire.Error{Code: string(ack[1]), Message: string(ack[2])}
	}
	if len(ack) != 1 || string(ack[0]) != wire.Ack {
		return fmt.Errorf("expected ack, got %d frames", len(ack))
	}
	return nil
}

// packPool holds buffers for packed payloads, so that a stream of appends
// does not allocate (and zero) a new buffer for each.
var packPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledPack is the largest buffer kept in packPool.
const maxPooledPack = 16 << 20

func (c *Client) send(sock dealerConn, cl *call, frames ...[]byte) error {
	return sock.send(cl, frames)
}

func (c *Client) recv(sock dealerConn, cl *call) ([][]byte, error) {
	return sock.recv(cl)
}
