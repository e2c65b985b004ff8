package server

import (
	"bytes"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// FuzzHandle feeds arbitrary requests (frames split on NUL bytes of the
// input) to a server's request handler over a real Dict: it must never
// panic, and must answer every request in its dialect.
func FuzzHandle(f *testing.F) {
	seeds := [][][]byte{
		{[]byte("append"), []byte("k"), []byte("v")},
		{[]byte("get"), []byte("k")},
		{[]byte("iset"), []byte("a-|-b"), []byte("v")},
		{[]byte(wire.Version), []byte("id"), []byte("append"), wire.Pack(nil, []byte("x/y"), []byte("v"))},
		{[]byte(wire.Version), []byte("id"), []byte("get"), wire.Pack(nil, []byte("x/y"))},
		{[]byte(wire.Version), []byte("id"), []byte("keys")},
		{[]byte(wire.Version), []byte("id"), []byte("stat")},
		{[]byte("delete"), []byte("..")},
		{[]byte(wire.Version), []byte("id"), []byte("attempt-append"), wire.Pack(nil, []byte("t1"), []byte("0"), []byte("1"), []byte("k"), []byte("v"))},
		{[]byte(wire.Version), []byte("id"), []byte("attempt-commit"), wire.Pack(nil, []byte("t1"), []byte("0"))},
		{[]byte(wire.Version), []byte("id"), []byte("attempt-abort"), wire.Pack(nil, []byte("t1"), []byte("1"))},
	}
	for _, s := range seeds {
		f.Add(bytes.Join(s, []byte{0}))
	}
	store, err := partd.NewAttempts(partd.NewDict()) // the attempts extension too
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(store, "", WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithMaxMessageSize(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, in []byte) {
		frames := bytes.Split(in, []byte{0})
		var size int64
		for _, fr := range frames {
			size += int64(len(fr)) + frameOverhead
		}
		rep := s.handle(&request{peer: []byte("p"), frames: frames, size: size, start: time.Now()})
		if len(rep.msgs) == 0 || len(rep.msgs[0]) == 0 {
			t.Fatalf("no answer to %q", frames)
		}
		if len(frames) > 0 && string(frames[0]) == wire.Version {
			if len(rep.msgs) != 1 {
				t.Fatalf("Go-dialect request answered with %d messages", len(rep.msgs))
			}
		} else if last := rep.msgs[len(rep.msgs)-1]; len(last) == 0 || string(last[0]) != wire.Ack {
			if !(len(frames) > 0 && string(frames[0]) == wire.CmdSyn) {
				t.Fatalf("Python-dialect request %q not ended by ack: %q", frames, rep.msgs)
			}
		}
	})
}
