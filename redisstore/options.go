package redisstore

import (
	"fmt"
	"time"
)

// minPartSize is the smallest part size WithPartSize accepts.
const minPartSize = 1 << 10

// An Option changes how New and Dial open a store. Options are validated:
// New and Dial return the error of a bad one, and none is clamped
// silently.
type Option func(*options) error

type options struct {
	timeout     time.Duration
	partSize    int64
	inline      int64
	waitN       int
	waitTimeout time.Duration
}

// collect applies opts to the defaults, stopping at the first error.
func collect(opts []Option) (options, error) {
	o := options{timeout: DefaultTimeout, inline: DefaultInlineLimit, waitTimeout: DefaultWaitTimeout}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithTimeout bounds each round trip to Redis (a pipeline, a script call, a
// SCAN step) to d, so a dead or hung node fails a call within about d. The
// bound holds only if the client honors context deadlines
// (ContextTimeoutEnabled, as Dial sets); otherwise the client's own read,
// write and dial timeouts apply. d must be positive; the default is
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("redisstore: WithTimeout(%v): the timeout must be positive", d)
		}
		o.timeout = d
		return nil
	}
}

// WithPartSize caps the Redis strings that hold a key's bytes at n bytes,
// at least 1 KiB; a key larger than that is held in several parts. The
// default, and the largest allowed, is the server's proto-max-bulk-len (the
// smallest over a cluster's masters), or 512 MiB if CONFIG GET is refused:
// New refuses a larger n.
func WithPartSize(n int64) Option {
	return func(o *options) error {
		if n < minPartSize {
			return fmt.Errorf("redisstore: WithPartSize(%d): want at least %d bytes", n, minPartSize)
		}
		o.partSize = n
		return nil
	}
}

// WithInlineLimit sets how many bytes of values one script call carries,
// at least 1; the rest of a larger batch is staged first, in Redis keys
// that expire, and committed by the script. It bounds the memory the
// server's Lua interpreter holds at once. The default is
// DefaultInlineLimit.
func WithInlineLimit(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("redisstore: WithInlineLimit(%d): want at least 1 byte", n)
		}
		o.inline = n
		return nil
	}
}

// WithWaitReplicas makes every write call (Append, AppendVectors, Set,
// Delete, Drop) return only once at least n replicas of the master it
// wrote to have acknowledged the write: each write is followed, on the
// same connection, by Redis's WAIT n with the given timeout (0 means
// DefaultWaitTimeout; it is rounded up to a whole millisecond; a negative
// one is refused). If fewer than n acknowledge within the timeout, the call
// returns an error wrapping ErrMaybeWritten and ErrUnavailable that says
// how many did: the master has the write, its replicas may not.
//
// An acknowledged write then survives the failure of its master as long
// as one of the replicas that acknowledged it is promoted, which Redis
// Cluster and Sentinel do by preferring the replica with the most data.
// It does not make Redis strongly consistent: see the package
// documentation. n is 0 (the default: no waiting, replication is
// asynchronous) to MaxWaitReplicas; New refuses a master with fewer than
// n replicas connected, and a client whose read timeout does not exceed
// the wait timeout. Each write call costs a round trip to the replicas
// more; see the README for a measure.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(o *options) error {
		if n < 0 || n > MaxWaitReplicas {
			return fmt.Errorf("redisstore: WithWaitReplicas(%d): want 0 to %d replicas", n, MaxWaitReplicas)
		}
		if timeout < 0 {
			return fmt.Errorf("redisstore: WithWaitReplicas(%d, %v): the timeout must not be negative", n, timeout)
		}
		o.waitN = n
		if timeout > 0 {
			d := timeout.Truncate(time.Millisecond)
			if d < timeout {
				d += time.Millisecond
			}
			o.waitTimeout = d
		}
		return nil
	}
}
