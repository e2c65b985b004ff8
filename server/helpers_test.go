package server_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/server/servertest"
)

// quiet is the logger of test servers.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startServer starts a server for store on addr and stops it at cleanup.
func startServer(t testing.TB, store partd.Store, addr string, opts ...server.Option) *server.Server {
	t.Helper()
	return servertest.NewAt(t, store, addr, opts...)
}

// dial dials addr and closes the client at cleanup.
func dial(t testing.TB, addr string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(addr, append([]client.Option{client.WithTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ipcAddr returns an ipc:// endpoint in a fresh temporary directory (short,
// since a Unix socket path is limited to about 100 bytes).
func ipcAddr(t testing.TB) string {
	dir, err := os.MkdirTemp("/tmp", "partd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "ipc://" + filepath.Join(dir, "partd.sock")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustGet(t testing.TB, s partd.Store, keys ...string) [][]byte {
	t.Helper()
	vs, err := s.Get(keys...)
	if err != nil {
		t.Fatalf("Get(%q): %v", keys, err)
	}
	return vs
}
