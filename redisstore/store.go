package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopartd/partd"
	"github.com/redis/go-redis/v9"
)

// Errors of this package, always wrapped with context: test with errors.Is.
var (
	// ErrUnavailable is wrapped by an error that comes from Redis not
	// answering: a node down or unreachable, a cluster failing over, a
	// timeout. Get, Keys, Set, Delete and Drop may be retried as they are;
	// Append may be retried unless the error also wraps ErrMaybeWritten.
	ErrUnavailable = errors.New("redis unavailable")
	// ErrMaybeWritten is wrapped by an Append error after which some or
	// all of the batch may have been written: the store cannot tell which.
	// Retrying the Append may then duplicate bytes. Every Append error
	// that does not wrap it means nothing was written.
	//
	// With WithWaitReplicas, it is also wrapped (with ErrUnavailable) by
	// the error of any write call (Append, AppendVectors, Set, Delete,
	// Drop) that the master applied but that fewer replicas than asked
	// acknowledged in time: the write is there, and lost if the master
	// fails before a replica has it. Set, Delete and Drop may still be
	// retried as they are.
	ErrMaybeWritten = errors.New("batch may be partly written")
)

// DefaultTimeout bounds each round trip to Redis unless WithTimeout says
// otherwise.
const DefaultTimeout = 5 * time.Second

// DefaultWaitTimeout is how long a write waits for its replicas under
// WithWaitReplicas unless it says otherwise.
const DefaultWaitTimeout = time.Second

// MaxWaitReplicas is the most replicas WithWaitReplicas may ask for.
const MaxWaitReplicas = 100

// DefaultPrefix is the namespace package storeuri uses when a URI names none.
const DefaultPrefix = "partd"

// Redis's defaults for the limits the store reads from the server, used
// when CONFIG GET is not allowed.
const (
	defaultProtoMaxBulkLen = 512 << 20
	defaultQueryBufLimit   = 1 << 30
)

// DefaultInlineLimit is how many bytes of values one script call carries
// unless WithInlineLimit says otherwise.
const DefaultInlineLimit = 64 << 20

// mergeMax is the largest staged chunk a script copies into the last part
// of a key instead of renaming it into a new part.
const mergeMax = 1 << 20

// Store is a partd.Store over Redis: a single node, a Sentinel-managed
// master or a Redis Cluster. See the package documentation.
type Store struct {
	c       redis.UniversalClient
	cluster *redis.ClusterClient // c, if it is a cluster client
	own     bool                 // Close closes c
	ns      string

	timeout  time.Duration
	partSize int64 // the largest part
	chunk    int64 // the largest piece sent as one argument
	inline   int64 // the bytes of values one script call carries

	waitN       int           // replicas each write waits for (WAIT); 0: none
	waitTimeout time.Duration // how long it waits for them

	closed    atomic.Bool
	closeOnce sync.Once
}

var (
	_ partd.Store          = (*Store)(nil)
	_ partd.VectorAppender = (*Store)(nil)
	_ partd.GetAppender    = (*Store)(nil)
)

// New returns a store over the namespace prefix of the Redis that c
// reaches: every name it writes starts with prefix + ":". prefix is 1 to 64
// letters, digits and "_-.:"; stores with different prefixes never see
// each other's keys. c is a *redis.Client (one node, or a Sentinel
// failover client) or a *redis.ClusterClient; a *redis.Ring is refused.
// New pings the server and reads its limits; Close does not close c.
func New(c redis.UniversalClient, prefix string, opts ...Option) (*Store, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	o, err := collect(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{c: c, ns: prefix, timeout: o.timeout, inline: o.inline, waitN: o.waitN, waitTimeout: o.waitTimeout}
	var readTimeout time.Duration
	switch cc := c.(type) {
	case *redis.ClusterClient:
		s.cluster = cc
		readTimeout = cc.Options().ReadTimeout
	case *redis.Client:
		readTimeout = cc.Options().ReadTimeout
	default:
		return nil, fmt.Errorf("redisstore: a %T is not supported: use a *redis.Client or a *redis.ClusterClient", c)
	}
	if s.waitN > 0 && readTimeout > 0 && readTimeout <= s.waitTimeout {
		// A pipeline's answers are read under one deadline: the WAIT at
		// its end would time out the connection instead of answering.
		return nil, fmt.Errorf("redisstore: WithWaitReplicas: the client's read timeout, %v, must exceed the wait timeout, %v", readTimeout, s.waitTimeout)
	}
	bulk, qbuf, err := s.limits()
	if err != nil {
		return nil, err
	}
	s.partSize = bulk
	if o.partSize > 0 {
		if o.partSize > bulk {
			return nil, fmt.Errorf("redisstore: WithPartSize(%d): over the server's proto-max-bulk-len, %d", o.partSize, bulk)
		}
		s.partSize = o.partSize
	}
	// A piece of a value is one argument of a command: at most a part, and
	// well under the query buffer limit (which bounds one argument).
	s.chunk = min(s.partSize, qbuf/4*3)
	return s, nil
}

// Dial connects to Redis with opts and returns a store over the namespace
// prefix (see New) that owns the client: Close closes it. It sets
// ContextTimeoutEnabled, so WithTimeout bounds every round trip, and uses
// the store's timeout for the dial, read and write timeouts opts leaves
// zero (plus the wait timeout for the read timeout, under
// WithWaitReplicas). opts.Addrs with more than one address or
// opts.IsClusterMode make a cluster client; opts.MasterName a Sentinel
// failover client.
func Dial(opts *redis.UniversalOptions, prefix string, options ...Option) (*Store, error) {
	co, err := collect(options)
	if err != nil {
		return nil, err
	}
	timeout := co.timeout
	o := *opts
	o.ContextTimeoutEnabled = true
	if o.DialTimeout == 0 {
		o.DialTimeout = timeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = timeout
		if co.waitN > 0 {
			o.ReadTimeout += co.waitTimeout
		}
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = timeout
	}
	c := redis.NewUniversalClient(&o)
	s, err := New(c, prefix, options...)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Prefix returns the store's namespace.
func (s *Store) Prefix() string { return s.ns }

// PartSize returns the largest Redis string the store writes.
func (s *Store) PartSize() int64 { return s.partSize }

// Close marks the store closed, and closes the client if Dial made it.
// Later calls return partd.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.own {
			err = s.c.Close()
		}
	})
	return err
}

// ctx returns a context for one round trip.
func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// waitCtx returns a context for one round trip that ends with a WAIT.
func (s *Store) waitCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout+s.waitTimeout)
}

// WaitReplicas returns how many replicas each write waits for (0: none,
// the default) and for how long: see WithWaitReplicas.
func (s *Store) WaitReplicas() (n int, timeout time.Duration) {
	if s.waitN == 0 {
		return 0, 0
	}
	return s.waitN, s.waitTimeout
}

// check returns an error wrapping partd.ErrClosed if the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, partd.ErrClosed)
	}
	return nil
}

// forEachNode calls fn on every master (every node of a cluster that
// holds slots, or the one server), concurrently in a cluster.
func (s *Store) forEachNode(ctx context.Context, fn func(ctx context.Context, c *redis.Client) error) error {
	if s.cluster != nil {
		return s.cluster.ForEachMaster(ctx, fn)
	}
	return fn(ctx, s.c.(*redis.Client))
}

// limits pings every master and returns the smallest proto-max-bulk-len
// and client-query-buffer-limit among them, Redis's defaults where CONFIG
// GET is refused. Under WithWaitReplicas, it also checks that each master
// has as many replicas online as each write waits for (where INFO is
// allowed), so that a store that could never acknowledge a write is not
// opened.
func (s *Store) limits() (bulk, qbuf int64, err error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var mu sync.Mutex
	bulk, qbuf = defaultProtoMaxBulkLen, defaultQueryBufLimit
	seen := false
	err = s.forEachNode(ctx, func(ctx context.Context, c *redis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return err
		}
		if s.waitN > 0 {
			if n, ok := onlineReplicas(ctx, c); ok && n < s.waitN {
				return fmt.Errorf("WithWaitReplicas(%d): master %s has %d replica(s) online", s.waitN, c.Options().Addr, n)
			}
		}
		b := configInt(ctx, c, "proto-max-bulk-len", defaultProtoMaxBulkLen)
		q := configInt(ctx, c, "client-query-buffer-limit", defaultQueryBufLimit)
		mu.Lock()
		defer mu.Unlock()
		if !seen {
			bulk, qbuf, seen = b, q, true
		}
		bulk, qbuf = min(bulk, b), min(qbuf, q)
		return nil
	})
	if err != nil {
		return 0, 0, s.wrap("connect", err)
	}
	return bulk, qbuf, nil
}

// onlineReplicas returns how many replicas INFO replication lists online
// for the master c, or false if INFO is refused or c is not a master.
func onlineReplicas(ctx context.Context, c *redis.Client) (int, bool) {
	info, err := c.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:master") {
		return 0, false
	}
	n := 0
	for l := range strings.Lines(info) {
		if strings.HasPrefix(l, "slave") && strings.Contains(l, "state=online") {
			n++
		}
	}
	return n, true
}

func configInt(ctx context.Context, c *redis.Client, name string, def int64) int64 {
	m, err := c.ConfigGet(ctx, name).Result()
	if err != nil {
		return def
	}
	n, err := strconv.ParseInt(m[name], 10, 64)
	if err != nil || n <= 0 {
		return def
	}
	return n
}

// wrap wraps an error from Redis or the network with the operation, and
// with ErrUnavailable if it means Redis did not answer.
func (s *Store) wrap(op string, err error) error {
	if errors.Is(err, redis.ErrClosed) && s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, partd.ErrClosed)
	}
	if unavailable(err) {
		if s.cluster != nil {
			// The client reloads the slots' owners only now and then or on
			// a MOVED, which a dead master never sends: have it reload now,
			// so that a retry after a failover reaches the new master.
			s.cluster.ReloadState(context.Background())
		}
		return fmt.Errorf("redisstore: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means Redis could not be reached or did
// not answer in time, as opposed to refusing a command.
func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.As(err, &ne):
		return true
	}
	for _, p := range []string{"CLUSTERDOWN", "MASTERDOWN", "LOADING", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS", "MOVED", "ASK"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
