package redisstore

import (
	"cmp"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func newTestStore(t *testing.T, opts ...Option) (*Store, *redis.Client) {
	t.Helper()
	srv := redistest.NewServer(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	s, err := New(c, "internal", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func wantValue(t *testing.T, s *Store, key, want string) {
	t.Helper()
	got, err := s.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0]) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got[0], want)
	}
}

// TestReplayApplied checks that a script call the client sends twice (a
// retry after a lost reply) is applied once.
func TestReplayApplied(t *testing.T) {
	s, _ := newTestStore(t)
	u := &unit{entries: []*entry{{key: "k", tag: tagOf("k"), pieces: [][]byte{[]byte("once")}}}}
	s.plan([]*unit{u}, "op1")
	call := s.writeCall("a", u, "op1", true)
	for range 3 {
		cmds, _ := s.runScripts("append", writeScript, []scriptCall{call}, false)
		if err := s.verdict("append", cmds[0]); err != nil {
			t.Fatal(err)
		}
	}
	wantValue(t, s, "k", "once")
}

// TestReplayWaits checks that under WithWaitReplicas a replayed script
// call (sent again on another connection after a lost reply) waits for
// the replicas too: the replay finds the write applied, and touches its
// record, a write, so that the WAIT after it, which counts what its own
// connection wrote, covers the write it replays.
func TestReplayWaits(t *testing.T) {
	m := redistest.NewServer(t)
	r := redistest.NewReplica(t, m)
	c := redis.NewClient(&redis.Options{Addr: m.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	s, err := New(c, "replay", WithWaitReplicas(1, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	u := &unit{entries: []*entry{{key: "k", tag: tagOf("k"), pieces: [][]byte{[]byte("once")}}}}
	s.plan([]*unit{u}, "op1")
	call := s.writeCall("a", u, "op1", true)
	cmds, waitErrs := s.runScripts("append", writeScript, []scriptCall{call}, true)
	if err := cmp.Or(s.verdict("append", cmds[0]), waitErrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(); err != nil {
		t.Fatal(err)
	}
	defer r.Resume()
	cmds, waitErrs = s.runScripts("append", writeScript, []scriptCall{call}, true)
	if res, err := cmds[0].Slice(); err != nil || res[0] != "dup" {
		t.Fatalf("replay: %v, %v; want dup", res, err)
	}
	if !errors.Is(waitErrs[0], ErrMaybeWritten) {
		t.Fatalf("a replay with the replica hung: wait error %v, want ErrMaybeWritten", waitErrs[0])
	}
	wantValue(t, s, "k", "once")
}

// TestStagedChunkLost checks that a commit whose staged chunk expired
// writes nothing.
func TestStagedChunkLost(t *testing.T) {
	s, c := newTestStore(t, WithInlineLimit(4))
	if err := s.Append(map[string][]byte{"k": []byte("ab")}); err != nil {
		t.Fatal(err)
	}
	u := &unit{entries: []*entry{{key: "k", tag: tagOf("k"), pieces: [][]byte{[]byte("12345678")}}}}
	staged := s.plan([]*unit{u}, "op2")
	if len(staged) != 1 {
		t.Fatalf("planned %d staged chunks, want 1", len(staged))
	}
	if err := s.stage(staged); err != nil {
		t.Fatal(err)
	}
	c.Del(context.Background(), staged[0].staged) // as if it had expired
	cmds, _ := s.runScripts("append", writeScript, []scriptCall{s.writeCall("a", u, "op2", true)}, false)
	if err := s.verdict("append", cmds[0]); err == nil {
		t.Fatal("commit with a lost staged chunk succeeded")
	}
	wantValue(t, s, "k", "ab")
}

// TestCorruptManifest checks that a data name holding what the store did
// not write is reported as corrupt, not misread or overwritten.
func TestCorruptManifest(t *testing.T) {
	s, c := newTestStore(t)
	ctx := context.Background()
	c.RPush(ctx, s.dataName("bad"), "not a manifest entry")
	c.HSet(ctx, s.dataName("hash"), "f", "v")
	if _, err := s.Get("bad"); !errors.Is(err, partd.ErrCorrupt) {
		t.Errorf("Get of a bad manifest: %v, want ErrCorrupt", err)
	}
	for _, k := range []string{"bad", "hash"} {
		if err := s.Append(map[string][]byte{k: []byte("x")}); !errors.Is(err, partd.ErrCorrupt) {
			t.Errorf("Append to %s: %v, want ErrCorrupt", k, err)
		}
	}
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
	if n := c.Exists(ctx, s.dataName("bad"), s.dataName("hash")).Val(); n != 0 {
		t.Errorf("Drop left %d corrupt keys", n)
	}
}

func TestNames(t *testing.T) {
	s := &Store{ns: "ns"}
	for _, k := range []string{"a", "a/b/c", "}x/y", "%7D/z", "%}", "{a}/b", "日本/語"} {
		n := s.dataName(k)
		got, ok := s.keyOf(n)
		if !ok || got != k {
			t.Errorf("keyOf(dataName(%q) = %q) = %q, %v", k, n, got, ok)
		}
		tag := tagOf(k)
		if len(tag) < 3 || tag[0] != '{' || tag[len(tag)-1] != '}' {
			t.Errorf("tagOf(%q) = %q", k, tag)
		}
		for _, c := range tag[1 : len(tag)-1] {
			if c == '}' {
				t.Errorf("tagOf(%q) = %q: a } inside cuts the hash tag short", k, tag)
			}
		}
	}
	if tagOf("}x/y") == tagOf("%7Dx/y") {
		t.Errorf("two first parts share a tag: the escape is not lossless")
	}
	for _, n := range []string{"ns:d{a}b", "ns:d{a}", "ns:x{a}a", "nsx:d{a}a", "ns:d{a", "ns:d{a}a//b"} {
		if k, ok := s.keyOf(n); ok {
			t.Errorf("keyOf(%q) = %q, want not a key", n, k)
		}
	}
}
