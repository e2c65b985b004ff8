package server_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// TestExtensionCommandsRaw sends the sizes, list and pop commands by hand:
// their answers in the Go dialect, their errors, and their absence from the
// Python dialect.
func TestExtensionCommandsRaw(t *testing.T) {
	s := startServer(t, partd.NewDict(), "")
	p := newRawPeer(t, s.Addr())
	p.send(wire.Version, "a", wire.CmdAppend, pack("df/p1", "12345", "df/p2", "x", "e", strings.Repeat("z", 300)))
	p.expect("a", wire.StatusOK)

	p.send(wire.Version, "s", wire.CmdSizes, pack("df/p1", "none", "e", "df"))
	got := p.recv(10 * time.Second)
	if len(got) != 3 || got[0] != "s" || got[1] != wire.StatusOK {
		t.Fatalf("sizes: %s", short(got))
	}
	sizes, err := wire.UnpackSizes([]byte(got[2]), 4)
	must(t, err)
	if !slices.Equal(sizes, []int64{5, 0, 300, 0}) {
		t.Fatalf("sizes = %v", sizes)
	}
	p.send(wire.Version, "s0", wire.CmdSizes)
	p.expect("s0", wire.StatusOK, "")

	p.send(wire.Version, "l1", wire.CmdList, pack("df/"))
	p.expect("l1", wire.StatusOK, "df/p1", "df/p2")
	p.send(wire.Version, "l2", wire.CmdList, pack(""))
	p.expect("l2", wire.StatusOK, "df/p1", "df/p2", "e")
	p.send(wire.Version, "l3", wire.CmdList, pack("", "df/p1", "1"))
	p.expect("l3", wire.StatusOK, "df/p2")
	p.send(wire.Version, "l4", wire.CmdList, pack("zz"))
	p.expect("l4", wire.StatusOK)

	p.send(wire.Version, "p", wire.CmdPop, pack("df/p1", "none"))
	p.expect("p", wire.StatusOK, "12345", "")
	p.send(wire.Version, "g", wire.CmdGet, pack("df/p1", "df/p2"))
	p.expect("g", wire.StatusOK, "", "x")

	for _, tc := range []struct {
		frames []string
		code   string
	}{
		{[]string{wire.Version, "e1", wire.CmdList}, wire.CodeBadRequest},
		{[]string{wire.Version, "e2", wire.CmdList, pack("a", "b")}, wire.CodeBadRequest},
		{[]string{wire.Version, "e3", wire.CmdList, pack("", "", "0")}, wire.CodeBadRequest},
		{[]string{wire.Version, "e4", wire.CmdList, pack("", "", strconv.Itoa(wire.MaxListPage+1))}, wire.CodeBadRequest},
		{[]string{wire.Version, "e5", wire.CmdList, pack("", "", "ten")}, wire.CodeBadRequest},
		{[]string{wire.Version, "e6", wire.CmdList, pack(strings.Repeat("k", partd.MaxKeyLen+1))}, wire.CodeBadRequest},
		{[]string{wire.Version, "e7", wire.CmdSizes, pack("ok", "a//b")}, wire.CodeInvalidKey},
		{[]string{wire.Version, "e8", wire.CmdPop, pack("../x")}, wire.CodeInvalidKey},
	} {
		p.send(tc.frames...)
		got := p.recv(10 * time.Second)
		if len(got) != 4 || got[0] != tc.frames[1] || got[1] != wire.StatusErr || got[2] != tc.code {
			t.Fatalf("%s: got %s, want an error with code %s", short(tc.frames), short(got), tc.code)
		}
	}
	// Python's protocol has none of them.
	for _, cmd := range []string{wire.CmdSizes, wire.CmdList, wire.CmdPop} {
		p.send(cmd, "e")
		p.expectPyError(wire.CodeBadRequest)
	}
	p.send("get", "e")
	p.expect(strings.Repeat("z", 300))
	p.expect(wire.Ack)
	st := s.Stats()
	if st.Requests[wire.CmdSizes] != 4 || st.Requests[wire.CmdList] != 11 || st.Requests[wire.CmdPop] != 3 {
		t.Fatalf("requests by command: %v", st.Requests)
	}
}

// TestPythonServerCapabilities: against Python partd's server the client's
// capabilities report errors.ErrUnsupported, and partd.Sizes and partd.Pop
// fall back to get and delete.
func TestPythonServerCapabilities(t *testing.T) {
	py := startPyServer(t)
	c := dial(t, py.addr)
	must(t, c.Append(map[string][]byte{"a": []byte("123"), "t/u": []byte("45")}))
	if _, err := c.Sizes("a"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Sizes on Python's server: %v, want ErrUnsupported", err)
	}
	if sizes, err := partd.Sizes(c, "a", "t/u", "none"); err != nil || !slices.Equal(sizes, []int64{3, 2, 0}) {
		t.Fatalf("partd.Sizes on Python's server = %v, %v", sizes, err)
	}
	if _, err := partd.KeysPrefix(c, ""); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("KeysPrefix on Python's server: %v, want ErrUnsupported", err)
	}
	for _, err := range partd.All(c, "") {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("All on Python's server: %v, want ErrUnsupported", err)
		}
	}
	vals, err := partd.Pop(c, "t/u")
	if err != nil || string(vals[0]) != "45" {
		t.Fatalf("partd.Pop on Python's server = %q, %v", vals, err)
	}
	if got := mustGet(t, c, "t/u", "a"); got[0] != nil || string(got[1]) != "123" {
		t.Fatalf("after Pop: %q", got)
	}
}
