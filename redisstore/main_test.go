package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// redisAddr is the address of a Redis server that the tests and examples
// share, started by TestMain with Redis's default limits.
var redisAddr string

// roleEnv names the role of a child process: this test binary re-executed
// by a benchmark or a test (see roles) to append or read in a process of
// its own.
const roleEnv = "PARTD_REDIS_ROLE"

// roles maps a child role to its body; the files that start children add
// theirs in init.
var roles = map[string]func() error{}

// TestMain starts the shared server and stops it after the tests. Without
// redis-server the tests fail: they are never skipped. In a child process
// (roleEnv set) it runs the role instead, and starts no server.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		run := roles[role]
		if run == nil {
			fmt.Fprintf(os.Stderr, "%s=%s: unknown role\n", roleEnv, role)
			os.Exit(2)
		}
		if err := run(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
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
