package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// GreetingSize is the size of a ZMTP 3 greeting.
const GreetingSize = 64

// MaxCommandSize is the largest command (READY, PING, …) accepted from a
// peer; a larger one closes the connection before anything is allocated
// for it. libzmq's READY is well under 1 KiB.
const MaxCommandSize = 16 << 10

// Frame flags.
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

// ErrProtocol is wrapped by the errors of a peer that breaks ZMTP.
var ErrProtocol = errors.New("zmtp: protocol error")

// ErrSecurity is wrapped by the error of a peer that asks for a security
// mechanism other than NULL: this package speaks only NULL, and refuses the
// others rather than skipping them.
var ErrSecurity = errors.New("zmtp: unsupported security mechanism")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}

// Greeting is the decoded greeting of a peer.
type Greeting struct {
	Major, Minor byte
	Mechanism    string
	AsServer     bool
}

// greeting is our greeting: ZMTP 3.0, NULL, not as server.
var greeting = func() []byte {
	g := make([]byte, GreetingSize)
	g[0] = 0xff
	g[9] = 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	return g
}()

// ParseSignature checks the first 10 bytes of a greeting (0xFF, 8 bytes of
// padding, 0x7F), which come before anything else is known of the peer.
func ParseSignature(b []byte) error {
	if len(b) < 10 {
		return protoErr("greeting signature of %d bytes", len(b))
	}
	if b[0] != 0xff || b[9]&1 != 1 {
		return protoErr("not a ZMTP 3 greeting (signature % x)", b[:10])
	}
	return nil
}

// ParseGreeting decodes a 64-byte greeting. A peer older than ZMTP 3, or
// one asking for a mechanism other than NULL, is an error (the latter
// wrapping ErrSecurity).
func ParseGreeting(b []byte) (Greeting, error) {
	var g Greeting
	if len(b) != GreetingSize {
		return g, protoErr("greeting of %d bytes", len(b))
	}
	if err := ParseSignature(b); err != nil {
		return g, err
	}
	g.Major, g.Minor = b[10], b[11]
	if g.Major < 3 {
		return g, protoErr("peer speaks ZMTP %d.%d; 3.0 or later is needed", g.Major, g.Minor)
	}
	mech := b[12:32]
	if i := bytes.IndexByte(mech, 0); i >= 0 {
		for _, c := range mech[i:] {
			if c != 0 {
				return g, protoErr("mechanism name not padded with zeros")
			}
		}
		mech = mech[:i]
	}
	for _, c := range mech {
		if c < 0x20 || c > 0x7e {
			return g, protoErr("mechanism name is not printable ASCII")
		}
	}
	g.Mechanism = string(mech)
	g.AsServer = b[32] == 1
	if b[32] > 1 {
		return g, protoErr("as-server byte %d", b[32])
	}
	if g.Mechanism != "NULL" {
		return g, fmt.Errorf("%w: the peer asks for %s security; this build speaks only NULL (CURVE needs the libzmq build, with cgo)", ErrSecurity, g.Mechanism)
	}
	return g, nil
}

// FrameHeader is a decoded frame header.
type FrameHeader struct {
	More    bool
	Command bool
	Size    uint64
	Len     int // bytes of the header: 2 or 9
}

// ParseFrameHeader decodes the frame header at the start of b. It returns
// ok false if b is too short to hold the whole header (the flags byte says
// how long it is). Reserved flag bits set, a command with MORE, and a long
// size with the top bit set are protocol errors.
func ParseFrameHeader(b []byte) (h FrameHeader, ok bool, err error) {
	if len(b) < 1 {
		return h, false, nil
	}
	flags := b[0]
	if flags&^(flagMore|flagLong|flagCommand) != 0 {
		return h, false, protoErr("reserved frame flags %#x", flags)
	}
	h.More, h.Command = flags&flagMore != 0, flags&flagCommand != 0
	if h.More && h.Command {
		return h, false, protoErr("command frame with MORE")
	}
	if flags&flagLong == 0 {
		if len(b) < 2 {
			return h, false, nil
		}
		h.Size, h.Len = uint64(b[1]), 2
		return h, true, nil
	}
	if len(b) < 9 {
		return h, false, nil
	}
	h.Size, h.Len = binary.BigEndian.Uint64(b[1:9]), 9
	if h.Size>>63 != 0 {
		return h, false, protoErr("frame size %#x has the top bit set", h.Size)
	}
	return h, true, nil
}

// appendFrameHeader appends the header of a frame of n bytes.
func appendFrameHeader(b []byte, n int, more, command bool) []byte {
	var flags byte
	if more {
		flags |= flagMore
	}
	if command {
		flags |= flagCommand
	}
	if n <= 255 {
		return append(b, flags, byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, flags|flagLong), uint64(n))
}

// ParseCommand splits a command frame's body into its name and data.
func ParseCommand(body []byte) (name string, data []byte, err error) {
	if len(body) < 1 {
		return "", nil, protoErr("empty command")
	}
	n := int(body[0])
	if n == 0 || 1+n > len(body) {
		return "", nil, protoErr("command name of %d bytes in a command of %d", n, len(body))
	}
	return string(body[1 : 1+n]), body[1+n:], nil
}

// appendCommand appends a whole command frame.
func appendCommand(b []byte, name string, data []byte) []byte {
	n := 1 + len(name) + len(data)
	b = appendFrameHeader(b, n, false, true)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	return append(b, data...)
}

// maxProperties bounds the properties of a READY command.
const maxProperties = 64

// ParseReady decodes the properties of a READY command's data (name, then
// value, each with its length). Property names are case-insensitive; a
// repeated one is an error.
func ParseReady(data []byte) (map[string][]byte, error) {
	props := make(map[string][]byte)
	for len(data) > 0 {
		n := int(data[0])
		if n == 0 || 1+n+4 > len(data) {
			return nil, protoErr("READY: property name of %d bytes in %d", n, len(data))
		}
		name := asciiLower(data[1 : 1+n])
		data = data[1+n:]
		vlen := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(vlen) > uint64(len(data)) {
			return nil, protoErr("READY: property %q value of %d bytes in %d", name, vlen, len(data))
		}
		if _, dup := props[name]; dup {
			return nil, protoErr("READY: property %q given twice", name)
		}
		if len(props) >= maxProperties {
			return nil, protoErr("READY: more than %d properties", maxProperties)
		}
		props[name] = data[:vlen:vlen]
		data = data[vlen:]
	}
	return props, nil
}

// appendReady appends a READY command with the Socket-Type and, for a
// DEALER or ROUTER, the Identity property.
func appendReady(b []byte, socketType string, identity []byte) []byte {
	var d []byte
	d = append(d, byte(len("Socket-Type")))
	d = append(d, "Socket-Type"...)
	d = binary.BigEndian.AppendUint32(d, uint32(len(socketType)))
	d = append(d, socketType...)
	d = append(d, byte(len("Identity")))
	d = append(d, "Identity"...)
	d = binary.BigEndian.AppendUint32(d, uint32(len(identity)))
	d = append(d, identity...)
	return appendCommand(b, "READY", d)
}

// compatible reports whether a socket of type ours may talk to a peer of
// type theirs (ZMTP 3's table, for the types this package has).
func compatible(ours, theirs string) bool {
	switch ours {
	case "ROUTER":
		return theirs == "DEALER" || theirs == "REQ" || theirs == "ROUTER"
	case "DEALER":
		return theirs == "ROUTER" || theirs == "REP" || theirs == "DEALER"
	}
	return false
}

// asciiLower lowercases the ASCII letters of b (and only those: a name's
// length never changes).
func asciiLower(b []byte) string {
	out := []byte(string(b))
	for i, c := range out {
		if 'A' <= c && c <= 'Z' {
			out[i] = c + 'a' - 'A'
		}
	}
	return string(out)
}
