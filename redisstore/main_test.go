package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// redisAddr is the address of a Redis server that the tests and examples
// share, started by TestMain with Redis's default limits.
var redisAddr string

// helpers are the work this test binary does when a test or a benchmark
// starts it again as a child process (partdtest.StartHelper); the files
// that start children add theirs in init.
var helpers = map[string]partdtest.Helper{}

// TestMain starts the shared server and stops it after the tests. Without
// redis-server the tests fail: they are never skipped. In a child process
// it runs the helper instead (partdtest.RunHelper), and starts no server.
func TestMain(m *testing.M) {
	partdtest.RunHelper(nil, helpers)
	dir, err := os.MkdirTemp("", "redisstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := redistest.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisstore tests:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	redisAddr = srv.Addr
	redis.SetLogger(quiet{}) // the tests kill servers on purpose
	code := m.Run()
	srv.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var namespaces atomic.Int64

// newPrefix returns a namespace no other store of this test binary uses.
func newPrefix() string { return fmt.Sprintf("t%d", namespaces.Add(1)) }
