//go:build cgo && !partd_purego

package server_test

import (
	"errors"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/client"
	"github.com/gopartd/partd/server"
)

func TestCurve(t *testing.T) {
	srvPub, srvSec, err := zmq.NewCurveKeypair()
	must(t, err)
	okPub, okSec, err := zmq.NewCurveKeypair()
	must(t, err)
	badPub, badSec, err := zmq.NewCurveKeypair()
	must(t, err)
	s := startServer(t, partd.NewDict(), "", server.WithCurve(srvSec, okPub))
	// A second CURVE server in the same process with a different list.
	s2 := startServer(t, partd.NewDict(), "", server.WithCurve(srvSec, badPub))

	c := dial(t, s.Addr(), client.WithCurve(srvPub, okPub, okSec))
	must(t, c.Append(map[string][]byte{"secret": []byte("data")}))
	if vs := mustGet(t, c, "secret"); string(vs[0]) != "data" {
		t.Fatalf("Get over CURVE = %q", vs[0])
	}
	c2 := dial(t, s2.Addr(), client.WithCurve(srvPub, badPub, badSec))
	must(t, c2.Ping())

	short := client.WithTimeout(500 * time.Millisecond)
	// A key the server does not allow, and no CURVE at all: no answer.
	if _, err := client.Dial(s.Addr(), short, client.WithCurve(srvPub, badPub, badSec)); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("Dial with a key that is not allowed: %v, want ErrTimeout", err)
	}
	if _, err := client.Dial(s.Addr(), short); !errors.Is(err, client.ErrTimeout) {
		t.Fatalf("Dial without CURVE: %v, want ErrTimeout", err)
	}
	// A raw peer without CURVE gets nothing either.
	p := newRawPeer(t, s.Addr())
	p.send("get", "secret")
	if got := p.recv(300 * time.Millisecond); got != nil {
		t.Fatalf("peer without CURVE got %s", short2(got))
	}
	// The allowed client still works.
	must(t, c.Ping())

	for _, bad := range []server.Option{server.WithCurve("short", okPub), server.WithCurve(srvSec), server.WithCurve(srvSec, "nope")} {
		if _, err := server.New(partd.NewDict(), "", bad); err == nil {
			t.Error("bad CURVE option accepted")
		}
	}
}

func short2(msg []string) string { return short(msg) }
