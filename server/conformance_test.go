package server_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/partdtest"
	"github.com/gopartd/partd/server/wire"
)

// TestConformance runs the Store conformance suite on a Go client talking
// to a Go server over TCP loopback and over ipc://.
func TestConformance(t *testing.T) {
	for _, tr := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"tcp", func(t *testing.T) string { return "tcp://127.0.0.1:*" }},
		{"ipc", func(t *testing.T) string { return ipcAddr(t) }},
	} {
		t.Run(tr.name, func(t *testing.T) {
			partdtest.Run(t, func(t *testing.T) partd.Store {
				s := startServer(t, partd.NewDict(), tr.addr(t))
				return dial(t, s.Addr())
			})
		})
	}
}

// TestLargeGetInParts gets more than partSize in one request, so the reply
// comes in several messages, and checks the values and their order.
func TestLargeGetInParts(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	c := dial(t, s.Addr())
	var keys []string
	for i := range 7 {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k, "missing")
		must(t, c.Append(map[string][]byte{k: bytes.Repeat([]byte{byte(i)}, 700<<10)}))
	}
	vs := mustGet(t, c, keys...)
	if len(vs) != len(keys) {
		t.Fatalf("%d values for %d keys", len(vs), len(keys))
	}
	for i := range 7 {
		if !bytes.Equal(vs[2*i], bytes.Repeat([]byte{byte(i)}, 700<<10)) || vs[2*i+1] != nil {
			t.Fatalf("value %d wrong (%d bytes)", i, len(vs[2*i]))
		}
	}
	p := newRawPeer(t, s.Addr())
	p.send(wire.Version, "id", "get", pack(keys...))
	var parts int
	for {
		msg := p.recv(10 * time.Second)
		if len(msg) < 2 || msg[0] != "id" {
			t.Fatalf("reply %s", short(msg))
		}
		if msg[1] == wire.StatusOK {
			break
		}
		if msg[1] != wire.StatusPart {
			t.Fatalf("reply status %q", msg[1])
		}
		parts++
	}
	if parts == 0 {
		t.Fatal("a 4.9 MB get came in one message")
	}
}
