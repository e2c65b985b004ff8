package client

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// WithContext returns a view of c whose calls are bound to ctx as well as
// to the client's timeout: once ctx is done, a call waiting for a
// connection or for the server's answer returns ctx.Err(), wrapped, within
// a few tens of milliseconds, and later calls return it at once. The view
// shares c's connections; c and its other views are unaffected, and c
// stays usable.
//
// The view is a partd.Store with the capabilities of the client
// (partd.KeySizer, partd.PrefixLister, partd.KeyPager, partd.Popper), so it
// goes wherever a store goes and layers stack on it:
// compress.Zstd(c.WithContext(ctx)) is a zstd store whose every call ends
// when ctx does. (A context argument on each method, as database/sql's
// QueryContext, would not reach through such layers, whose methods are the
// Store's.) Closing the view closes only the view, not c: later calls on
// it return partd.ErrClosed.
func (c *Client) WithContext(ctx context.Context) partd.Store {
	if ctx == nil {
		panic("partd/client: WithContext with a nil context")
	}
	return &ctxStore{c: c, ctx: ctx}
}

// ctxStore is the view WithContext returns.
type ctxStore struct {
	c      *Client
	ctx    context.Context
	closed atomic.Bool
}

var (
	_ partd.Store        = (*ctxStore)(nil)
	_ partd.KeySizer     = (*ctxStore)(nil)
	_ partd.PrefixLister = (*ctxStore)(nil)
	_ partd.KeyPager     = (*ctxStore)(nil)
	_ partd.Popper       = (*ctxStore)(nil)
)

func (s *ctxStore) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("partd/client: %s: %w", op, partd.ErrClosed)
	}
	return nil
}

func (s *ctxStore) Append(data map[string][]byte) error {
	if err := s.check("append"); err != nil {
		return err
	}
	return s.c.append(s.ctx, data)
}

func (s *ctxStore) Get(keys ...string) ([][]byte, error) {
	if err := s.check("get"); err != nil {
		return nil, err
	}
	return s.c.values(s.ctx, wire.CmdGet, keys)
}

func (s *ctxStore) Set(key string, value []byte) error {
	if err := s.check("iset"); err != nil {
		return err
	}
	return s.c.set(s.ctx, key, value)
}

func (s *ctxStore) Delete(keys ...string) error {
	if err := s.check("delete"); err != nil {
		return err
	}
	return s.c.delete(s.ctx, keys)
}

func (s *ctxStore) Keys() ([]string, error) {
	if err := s.check("keys"); err != nil {
		return nil, err
	}
	return s.c.keys(s.ctx)
}

func (s *ctxStore) Drop() error {
	if err := s.check("drop"); err != nil {
		return err
	}
	_, err := s.c.do(s.ctx, wire.CmdDrop)
	return err
}

// Close closes the view, not the client.
func (s *ctxStore) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *ctxStore) Sizes(keys ...string) ([]int64, error) {
	if err := s.check("sizes"); err != nil {
		return nil, err
	}
	return s.c.sizes(s.ctx, keys)
}

func (s *ctxStore) KeysPrefix(prefix string) ([]string, error) {
	if err := s.check("list"); err != nil {
		return nil, err
	}
	return s.c.keysPrefix(s.ctx, prefix)
}

func (s *ctxStore) KeysPage(prefix, after string, limit int) ([]string, error) {
	if err := s.check("list"); err != nil {
		return nil, err
	}
	return s.c.keysPage(s.ctx, prefix, after, limit)
}

func (s *ctxStore) Pop(keys ...string) ([][]byte, error) {
	if err := s.check("pop"); err != nil {
		return nil, err
	}
	return s.c.values(s.ctx, wire.CmdPop, keys)
}
