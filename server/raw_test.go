package server_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server"
	"github.com/gopartd/partd/server/wire"
)

// rawPeer is a bare DEALER socket for sending hand-made frames (libzmq's,
// or internal/zmtp's in the pure-Go build: rawsock_*_test.go).
type rawPeer struct {
	t    testing.TB
	sock *rawDealer
}

func newRawPeer(t testing.TB, addr string) *rawPeer {
	t.Helper()
	sock, err := newRawDealer(addr)
	must(t, err)
	t.Cleanup(sock.close)
	return &rawPeer{t: t, sock: sock}
}

func (p *rawPeer) send(frames ...string) {
	p.t.Helper()
	parts := make([][]byte, len(frames))
	for i, f := range frames {
		parts[i] = []byte(f)
	}
	if err := p.sock.send(parts...); err != nil {
		p.t.Fatal(err)
	}
}

// recv waits up to d for one message; nil if none came.
func (p *rawPeer) recv(d time.Duration) []string {
	p.t.Helper()
	msg, err := p.sock.recv(d)
	must(p.t, err)
	if msg == nil {
		return nil
	}
	out := make([]string, len(msg))
	for i, f := range msg {
		out[i] = string(f)
	}
	return out
}

func (p *rawPeer) expect(want ...string) {
	p.t.Helper()
	got := p.recv(10 * time.Second)
	if !slices.Equal(got, want) {
		p.t.Fatalf("got %s, want %s", short(got), short(want))
	}
}

// expectPyError expects a Python-dialect error reply with code, then "ack".
func (p *rawPeer) expectPyError(code string) {
	p.t.Helper()
	got := p.recv(10 * time.Second)
	if len(got) != 3 || got[0] != wire.StatusErr || got[1] != code {
		p.t.Fatalf("got %s, want an error reply with code %q", short(got), code)
	}
	p.expect(wire.Ack)
}

func short(msg []string) string {
	var b strings.Builder
	b.WriteString("[")
	for i, f := range msg {
		if i > 0 {
			b.WriteString(" ")
		}
		if len(f) > 60 {
			f = f[:60] + "…"
		}
		b.WriteString(strings.ReplaceAll(f, "\n", `\n`))
	}
	b.WriteString("]")
	return b.String()
}

// TestMalformedRequests sends broken requests with a real DEALER, in both
// dialects, and checks each gets an error reply, the sender stays in step,
// and the server keeps serving another client.
func TestMalformedRequests(t *testing.T) {
	const capBytes = 64 << 10
	s := startServer(t, partd.NewDict(), "", server.WithMaxMessageSize(capBytes))
	p := newRawPeer(t, s.Addr())

	p.send("syn")
	p.expect(wire.Ack)

	cases := []struct {
		name   string
		frames []string
		code   string
	}{
		{"unknown command", []string{"frobnicate", "x"}, wire.CodeBadRequest},
		{"empty command", []string{""}, wire.CodeBadRequest},
		{"iset with one frame", []string{"iset", "k"}, wire.CodeBadRequest},
		{"iset with three frames", []string{"iset", "k", "v", "w"}, wire.CodeBadRequest},
		{"append with odd frames", []string{"append", "k", "v", "k2"}, wire.CodeBadRequest},
		{"get with zero keys", []string{"get"}, wire.CodeBadRequest},
		{"drop with payload", []string{"drop", "x"}, wire.CodeBadRequest},
		{"invalid key ..", []string{"append", "..", "v"}, wire.CodeInvalidKey},
		{"invalid tuple key", []string{"append", "a-|-..-|-b", "v"}, wire.CodeInvalidKey},
		{"invalid key in get", []string{"get", "ok", "a//b"}, wire.CodeInvalidKey},
		{"invalid key in delete", []string{"delete", "ok", ""}, wire.CodeInvalidKey},
		{"invalid key in iset", []string{"iset", "\x00", "v"}, wire.CodeInvalidKey},
		{"over-long key", []string{"append", strings.Repeat("k", partd.MaxKeyLen+1), "v"}, wire.CodeInvalidKey},
		{"huge key", []string{"get", strings.Repeat("k", 20000)}, wire.CodeInvalidKey},
		{"keys is Go-only", []string{"keys"}, wire.CodeBadRequest},
		{"remote close refused", []string{"close"}, wire.CodeForbidden},
		{"over the size cap", []string{"append", "a", strings.Repeat("v", capBytes/2), "b", strings.Repeat("v", capBytes/2)}, wire.CodeTooLarge},
		{"many tiny frames over the cap", append([]string{"delete"}, slices.Repeat([]string{"k"}, capBytes/frameCost)...), wire.CodeTooLarge},
	}
	for _, tc := range cases {
		t.Run("python/"+tc.name, func(t *testing.T) {
			p.t = t
			p.send(tc.frames...)
			p.expectPyError(tc.code)
			p.send("syn")
			p.expect(wire.Ack)
		})
	}
	p.t = t

	// x then x/y (and its Python spelling) conflict.
	p.send("append", "x", "1")
	p.expect(wire.Ack)
	p.send("append", "x-|-y", "2")
	p.expectPyError(wire.CodeInvalidKey)
	p.send("append", "x/y", "2", "z", "3")
	p.expectPyError(wire.CodeInvalidKey)
	p.send("get", "x", "z")
	p.expect("1", "")
	p.expect(wire.Ack)

	// Go dialect.
	goCases := []struct {
		frames []string
		code   string
	}{
		{[]string{wire.Version}, wire.CodeBadRequest},
		{[]string{wire.Version, "id1"}, wire.CodeBadRequest},
		{[]string{wire.Version, "id2", ""}, wire.CodeBadRequest},
		{[]string{wire.Version, "id3", "nope"}, wire.CodeBadRequest},
		{[]string{wire.Version, "id4", "get"}, wire.CodeBadRequest},
		{[]string{wire.Version, "id5", "append", pack("k")}, wire.CodeBadRequest},
		{[]string{wire.Version, "id6", "iset", pack("k")}, wire.CodeBadRequest},
		{[]string{wire.Version, "id7", "append", pack("x/y", "v")}, wire.CodeInvalidKey},
		{[]string{wire.Version, "id8", "append", pack("a/../b", "v")}, wire.CodeInvalidKey},
		{[]string{wire.Version, "id9", "close"}, wire.CodeForbidden},
		{[]string{wire.Version, "id10", "append", pack("k", strings.Repeat("v", capBytes-100))}, wire.CodeTooLarge},
		{[]string{wire.Version, "id11", "append", "k", "v"}, wire.CodeBadRequest},                           // unpacked payload
		{[]string{wire.Version, "id12", "get", "\xff\xff\xff"}, wire.CodeBadRequest},                        // truncated length
		{[]string{wire.Version, "id13", "get", "\x05ab"}, wire.CodeBadRequest},                              // item past the end
		{[]string{wire.Version, "id14", "delete", strings.Repeat("\x00", capBytes/2)}, wire.CodeBadRequest}, // too many items
	}
	for _, tc := range goCases {
		p.send(tc.frames...)
		got := p.recv(10 * time.Second)
		id := ""
		if len(tc.frames) > 1 {
			id = tc.frames[1]
		}
		if len(got) != 4 || got[0] != id || got[1] != wire.StatusErr || got[2] != tc.code {
			t.Fatalf("Go dialect %s: got %s, want [%s err %s …]", short(tc.frames), short(got), id, tc.code)
		}
	}

	// A single frame over ZMQ_MAXMSGSIZE: libzmq drops that connection; the
	// server carries on.
	big := newRawPeer(t, s.Addr())
	big.send("append", "k", strings.Repeat("v", 2*capBytes))
	if got := big.recv(300 * time.Millisecond); got != nil {
		t.Fatalf("oversized frame answered with %s", short(got))
	}

	// Pipelined requests of one peer run in order.
	for _, d := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"} {
		p.send("append", "seq", d)
	}
	p.send("get", "seq")
	for range 10 {
		p.expect(wire.Ack)
	}
	p.expect("0123456789")
	p.expect(wire.Ack)

	// The same peer and a fresh Go client are still served.
	p.send("syn")
	p.expect(wire.Ack)
	c := dial(t, s.Addr())
	must(t, c.Append(map[string][]byte{"after": []byte("ok")}))
	if got := mustGet(t, c, "after", "x"); string(got[0]) != "ok" || string(got[1]) != "1" {
		t.Fatalf("second client got %q", got)
	}
	st, err := c.Stat()
	must(t, err)
	if st.Errors < uint64(len(cases)+len(goCases)) {
		t.Fatalf("stat counts %d errors, want at least %d", st.Errors, len(cases)+len(goCases))
	}
}

// pack encodes items as a Go-dialect payload frame.
func pack(items ...string) string {
	var b []byte
	for _, it := range items {
		b = wire.PackString(b, it)
	}
	return string(b)
}

// frameCost is what the server charges per frame against the cap (64) plus
// the frame's byte.
const frameCost = 65

// TestNoPathEscape sends keys that try to leave a File store's directory,
// in both dialects, and checks nothing outside it is touched.
func TestNoPathEscape(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "q", "store")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "etc"), 0o755))
	sentinel := filepath.Join(base, "etc", "hostname")
	must(t, os.WriteFile(sentinel, []byte("original"), 0o644))
	f, err := partd.NewFile(dir)
	must(t, err)
	s := startServer(t, f, "")
	p := newRawPeer(t, s.Addr())
	evil := []string{
		"q/../../etc/hostname", "../../etc/hostname", "..", "../etc", "/etc/hostname",
		"q-|-..-|-..-|-etc-|-hostname", "..-|-..-|-etc-|-hostname", "q-|-.-|-x", "-|-etc",
		"q/../../../../../../../../" + base + "/etc/hostname", "a\x00/../../etc/hostname",
	}
	for _, k := range evil {
		p.send("append", k, "pwned")
		p.expectPyError(wire.CodeInvalidKey)
		p.send("iset", k, "pwned")
		p.expectPyError(wire.CodeInvalidKey)
		p.send("get", k)
		p.expectPyError(wire.CodeInvalidKey)
		p.send("delete", k)
		p.expectPyError(wire.CodeInvalidKey)
		p.send(wire.Version, "i", "append", pack(k, "pwned"))
		got := p.recv(10 * time.Second)
		if strings.Contains(k, wire.TupleSep) && !strings.Contains(k, "/") && !strings.Contains(k, "\x00") {
			// In the Go dialect "-|-" is no separator: a plain key, stored
			// inside the directory (checked below).
			if !slices.Equal(got, []string{"i", wire.StatusOK}) {
				t.Fatalf("Go dialect append %q: got %s", k, short(got))
			}
			continue
		}
		if len(got) != 4 || got[2] != wire.CodeInvalidKey {
			t.Fatalf("Go dialect append %q: got %s", k, short(got))
		}
	}
	// A legitimate tuple key lands inside.
	p.send("append", "q-|-etc-|-hostname", "fine")
	p.expect(wire.Ack)
	if b, err := os.ReadFile(sentinel); err != nil || string(b) != "original" {
		t.Fatalf("sentinel file: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "q", "etc", "hostname")); err != nil || string(b) != "fine" {
		t.Fatalf("tuple key file: %q, %v", b, err)
	}
	var outside []string
	filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(path, dir+string(filepath.Separator)) && path != sentinel {
			outside = append(outside, path)
		}
		return nil
	})
	if len(outside) > 0 {
		t.Fatalf("files written outside the store: %q", outside)
	}
	c := dial(t, s.Addr())
	keys, err := c.Keys()
	must(t, err)
	if !slices.Contains(keys, "q/etc/hostname") || slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "..") && strings.Contains(k, "/") }) {
		t.Fatalf("Keys = %q", keys)
	}
	if _, err := c.Get("q/../../etc/hostname"); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Go client Get of an escaping key: %v", err)
	}
	if !bytes.Equal(mustGet(t, c, "q/etc/hostname")[0], []byte("fine")) {
		t.Fatal("Go client does not see the tuple key")
	}
}
