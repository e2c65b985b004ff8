package storeuri_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd/redisstore"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/gopartd/partd/storeuri"
)

// TestParseWait parses wait= and wait_timeout= on the Redis schemes:
// strictly, and never quoting the password in an error.
func TestParseWait(t *testing.T) {
	good := map[string]storeuri.Spec{
		"redis://h:1?wait=1":                          {Scheme: "redis", Addr: "h:1", Prefix: "partd", Wait: 1},
		"redis://h:1?wait=0":                          {Scheme: "redis", Addr: "h:1", Prefix: "partd"},
		"redis://h:1?wait=100&wait_timeout=250ms":     {Scheme: "redis", Addr: "h:1", Prefix: "partd", Wait: 100, WaitTimeout: 250 * time.Millisecond},
		"redis-cluster://h:1,h:2?wait=2&prefix=x":     {Scheme: "redis-cluster", Addr: "h:1,h:2", Prefix: "x", Wait: 2},
		"redis-cluster://h:1?wait_timeout=10m&wait=1": {Scheme: "redis-cluster", Addr: "h:1", Prefix: "partd", Wait: 1, WaitTimeout: 10 * time.Minute},
		"redis://:pw@h:1?wait=1&wait_timeout=1ms":     {Scheme: "redis", Addr: "h:1", Password: "pw", Prefix: "partd", Wait: 1, WaitTimeout: time.Millisecond},
	}
	for uri, want := range good {
		got, err := storeuri.Parse(uri)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", uri, got, err, want)
			continue
		}
		if back, err := storeuri.Parse(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", uri, got.String(), back, err)
		}
	}
	for _, uri := range []string{
		"redis://:s3cret@h:1?wait=", "redis://:s3cret@h:1?wait=-1", "redis://:s3cret@h:1?wait=+1",
		"redis://:s3cret@h:1?wait=01", "redis://:s3cret@h:1?wait=1.0", "redis://:s3cret@h:1?wait=101",
		"redis://:s3cret@h:1?wait=99999999999999999999999", "redis://:s3cret@h:1?wait=one",
		"redis://:s3cret@h:1?wait=%201", "redis://:s3cret@h:1?wait=1&wait=1",
		"redis://:s3cret@h:1?wait=1&wait_timeout=", "redis://:s3cret@h:1?wait=1&wait_timeout=1",
		"redis://:s3cret@h:1?wait=1&wait_timeout=0s", "redis://:s3cret@h:1?wait=1&wait_timeout=-1s",
		"redis://:s3cret@h:1?wait=1&wait_timeout=999us", "redis://:s3cret@h:1?wait=1&wait_timeout=11m",
		"redis://:s3cret@h:1?wait=1&wait_timeout=9999999999999h",
		"redis://:s3cret@h:1?wait_timeout=1s", "redis://:s3cret@h:1?wait=0&wait_timeout=1s",
		"mem://?wait=1", "file:///d?wait=1", "tcp://h:1?wait=1", "log:///d?wait_timeout=1s",
	} {
		s, err := storeuri.Parse(uri)
		if !errors.Is(err, storeuri.ErrBadURI) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrBadURI", uri, s, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Parse(%q): %q shows the password", uri, err)
		}
		if !strings.Contains(err.Error(), "wait") {
			t.Errorf("Parse(%q): %q does not name the parameter", uri, err)
		}
	}
}

// TestOpenRedisWait opens a store that waits for a replica from a URI.
func TestOpenRedisWait(t *testing.T) {
	m := redistest.NewServer(t)
	r := redistest.NewReplica(t, m)
	s, err := storeuri.Open("redis://"+m.Addr+"?wait=1&wait_timeout=1500ms", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rs, ok := s.(*redisstore.Store)
	if !ok {
		t.Fatalf("opened a %T, want *redisstore.Store", s)
	}
	if n, d := rs.WaitReplicas(); n != 1 || d != 1500*time.Millisecond {
		t.Fatalf("WaitReplicas() = %d, %v; want 1, 1.5s", n, d)
	}
	if err := s.Append(map[string][]byte{"k": []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(); err != nil {
		t.Fatal(err)
	}
	defer r.Resume()
	if err := s.Append(map[string][]byte{"k": []byte("v")}); !errors.Is(err, redisstore.ErrMaybeWritten) {
		t.Fatalf("Append with the replica hung: %v, want ErrMaybeWritten", err)
	}
	// A server without the replicas asked for is refused.
	if s, err := storeuri.Open("redis://"+m.Addr+"?wait=2", nil); err == nil {
		s.Close()
		t.Fatal("wait=2 opened a server with one replica")
	}
}
