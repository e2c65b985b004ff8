package storeuri_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	_ "github.com/gopartd/partd/client" // tcp://, ipc://
	_ "github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/storeuri"
)

// TestNoDriversLinked: the package itself depends on neither ZeroMQ (the
// client, pebbe/zmq4, internal/zmtp), go-redis nor Prometheus, so a program
// that opens only mem://, file:// and log:// stores compiles none of them;
// the schemes of the others are registered by the packages that implement
// them.
func TestNoDriversLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, bad := range []string{
		"github.com/pebbe/zmq4", "github.com/gopartd/partd/internal/zmtp", "github.com/gopartd/partd/client",
		"github.com/gopartd/partd/server", "github.com/redis/go-redis", "github.com/gopartd/partd/redisstore",
		"github.com/prometheus/",
	} {
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, bad) {
				t.Errorf("storeuri depends on %s", strings.TrimSpace(line))
			}
		}
	}
}

// TestRegisterTwice: a scheme is registered once, and only a driver's.
func TestRegisterTwice(t *testing.T) {
	for _, scheme := range []string{"tcp", "redis", "file", "s3"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", scheme)
				}
			}()
			storeuri.Register(scheme, storeuri.Driver{Open: nil})
		}()
	}
	// Both drivers are linked into this test: their schemes parse.
	for _, uri := range []string{"tcp://h:1", "ipc:///x", "redis://h:1", "redis-cluster://h:1"} {
		if _, err := storeuri.Parse(uri); err != nil {
			t.Errorf("Parse(%q): %v", uri, err)
		}
	}
	if _, err := storeuri.Parse("redis://h:1?wait=101"); !errors.Is(err, storeuri.ErrBadURI) || !strings.Contains(err.Error(), "from 0 to 100") {
		t.Errorf("wait=101: %v", err)
	}
}
