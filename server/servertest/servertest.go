// Package servertest starts partd servers for tests, as net/http/httptest
// starts HTTP servers: a real server on a real ZeroMQ socket, stopped when
// the test ends.
//
//	srv := servertest.New(t, partd.NewDict())
//	c := servertest.Dial(t, srv)
//	partdtest.Run(t, ...) // or any test of a store used over the network
package servertest

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

// New starts a server for store on an ipc:// socket in a fresh temporary
// directory, with logging off unless opts set a logger. At the end of the
// test it closes the server (which flushes and closes store) and fails the
// test if Serve returned an error or did not return.
func New(t testing.TB, store partd.Store, opts ...server.Option) *server.Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "partd-servertest-") // short: a socket path is limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return NewAt(t, store, "ipc://"+filepath.Join(dir, "s"), opts...)
}

// NewAt is New on the given address, such as "tcp://127.0.0.1:*".
func NewAt(t testing.TB, store partd.Store, addr string, opts ...server.Option) *server.Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(store, addr, append([]server.Option{server.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("servertest: Close: %v", err)
		}
		select {
		case err := <-served:
			if err != nil && !errors.Is(err, server.ErrServerClosed) {
				t.Errorf("servertest: Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("servertest: Serve did not return within 10s of Close")
		}
	})
	return srv
}

// Dial returns a client of srv, closed at the end of the test. Calls time
// out after 10 seconds unless opts say otherwise, so a broken server fails
// the test instead of hanging it.
func Dial(t testing.TB, srv *server.Server, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(srv.Addr(), append([]client.Option{client.WithTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
