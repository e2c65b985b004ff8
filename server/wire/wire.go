// Package wire defines the network protocol spoken by package server and
// package client, so both sides (and third-party peers) share one definition.
//
// # Transport
//
// The server is a ZeroMQ ROUTER socket, each client a DEALER. Every request is
// one multipart message; the server answers every request.
//
// # Python dialect
//
// A request whose first frame is a command is Python partd 1.3's protocol
// (partd/zmq.py), answered exactly as Python's server answers it:
//
//	request                          reply message(s)
//	syn                              ack
//	append key value key value ...   ack
//	get key key ...                  value value ...   then   ack
//	delete key ...                   ack
//	iset key value                   ack
//	drop                             ack
//	close                            ack (only if the server allows it)
//
// Tuple keys travel joined by "-|-" ([TupleSep]); the server turns each "-|-"
// into the "/" of a partd tuple key ([FromPython]).
//
// A request that fails is answered with an error message [StatusErr, code,
// message] in place of its result (or in place of the "ack" of a command that
// has no result), always followed by the "ack" message. A Python client, which
// reads one message before each request it sends, then raises an
// AssertionError on its next call and is back in step on the call after it.
//
// # Go dialect
//
// A Go client announces itself by sending "syn" with the payload frame
// [Version]. Python's server answers a bare "ack"; a server that speaks the Go
// dialect answers "ack", the frame [Version] and its message cap in bytes
// (decimal; a request's size is its frames' bytes plus [FrameOverhead] per
// frame), so the client refuses a request over the cap itself instead of
// sending it (one frame over the cap makes libzmq drop the connection). The Go
// dialect is then used for every request:
//
//	request:  Version  id  command  [packed payload]
//	reply:    id  "ok"   result...
//	          id  "err"  code  message
//
// id is any frame the client chooses (the Go client uses a counter) and is
// echoed back so a client can discard stale replies. The payload items (the
// same items as in the Python dialect: keys, or keys and values) travel in one
// frame ([Pack]: each item's length as a uvarint, then its bytes), because
// ZeroMQ's cost is per frame: a batch of 256 values of 4 KiB costs about half
// the CPU as one frame than as 512. The frame is left out when there are no
// items. One reply answers each request; there is no separate "ack". A large
// reply may be split into several messages, each [id, "part", result...]
// but the last, [id, "ok", result...]; the results are their concatenation.
// (ZeroMQ hands over a message only once all its frames have arrived, so
// parts let the client copy out the first values of a large get while the
// rest are still on the wire.) Keys are sent as they are, "/" separating tuple parts; "-|-" has no
// meaning. Results are one frame each: one per key for get, one per key for
// keys, one JSON frame ([Stats]) for stat, none otherwise.
//
// # Go-dialect extensions
//
// Besides Python partd's commands, the Go dialect has these (a Python client
// never sends them; a Python-dialect request of one is an unknown command):
//
//	command  payload items              result frames
//	keys     (none)                     every key, sorted, one frame each
//	stat     (none)                     one JSON frame, Stats
//	sizes    key key ...                one frame: each key's size (the bytes get would
//	                                    return) as a uvarint, in order ([PackSizes])
//	list     prefix                     the keys that start with prefix, sorted, one frame each
//	list     prefix after limit         at most limit (decimal, 1 to [MaxListPage]) of those
//	                                    keys that sort after after: a page
//	pop      key key ...                one value per key, as for get; the keys are then
//	                                    deleted, atomically with the read where the store's
//	                                    Pop is (partd.Popper)
//
// A server that predates a command answers it with a bad-request error whose
// message starts "unknown command"; the Go client then falls back (Sizes and
// listing with get and keys, Pop with get then delete) or reports
// errors.ErrUnsupported.
//
// # Error codes
//
// Error messages carry one of the Code constants; [Error.Unwrap] maps
// CodeInvalidKey, CodeCorrupt and CodeClosed back to partd.ErrInvalidKey,
// partd.ErrCorrupt and partd.ErrClosed, so errors.Is works on the client.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/gopartd/partd"
)

// Commands. The first seven are Python partd's; the others are extensions
// of the Go dialect.
const (
	CmdSyn    = "syn"
	CmdAppend = "append"
	CmdGet    = "get"
	CmdDelete = "delete"
	CmdIset   = "iset"
	CmdDrop   = "drop"
	CmdClose  = "close"
	CmdKeys   = "keys"
	CmdStat   = "stat"
	CmdSizes  = "sizes"
	CmdList   = "list"
	CmdPop    = "pop"
	// The attempts extension (partd.Attempts, in the server's store):
	// attempt-append [task, attempt, seq, key, value, ...]; attempt-commit
	// and attempt-abort [task, attempt].
	CmdAttemptAppend = "attempt-append"
	CmdAttemptCommit = "attempt-commit"
	CmdAttemptAbort  = "attempt-abort"
)

// MaxListPage is the most keys a page of the list command may ask for.
const MaxListPage = 1 << 16

// Frames with a fixed meaning.
const (
	// Ack ends the answer to every Python-dialect request.
	Ack = "ack"
	// Version starts every Go-dialect request and is the payload of the
	// Go client's "syn".
	Version = "partd/1"
	// StatusOK is the second frame of a successful Go-dialect reply (of its
	// last message, if it is split).
	StatusOK = "ok"
	// StatusPart is the second frame of each message but the last of a
	// Go-dialect reply split into several messages.
	StatusPart = "part"
	// StatusErr starts a Python-dialect error message and is the second
	// frame of a Go-dialect error reply.
	StatusErr = "err"
	// TupleSep joins the parts of a tuple key in the Python dialect.
	TupleSep = "-|-"
)

// FrameOverhead is what each frame of a request costs against a server's
// message cap on top of its bytes.
const FrameOverhead = 64

// Error codes carried by error replies.
const (
	CodeInvalidKey  = "invalid-key"  // partd.ErrInvalidKey
	CodeCorrupt     = "corrupt"      // partd.ErrCorrupt
	CodeClosed      = "closed"       // partd.ErrClosed: the store or the server is closed
	CodeFull        = "full"         // partd.ErrFull: the store holds what it may on disk; retry later
	CodeLost        = "attempt-lost" // partd.ErrAttemptLost: another attempt of the task committed first
	CodeUnsupported = "unsupported"  // errors.ErrUnsupported: the server's store cannot do it
	CodeBadRequest  = "bad-request"  // malformed request: unknown command, wrong number of frames
	CodeTooLarge    = "too-large"    // request over the server's message size cap
	CodeForbidden   = "forbidden"    // e.g. a remote close the server does not allow
	CodeBusy        = "busy"         // too many requests pipelined by one peer
	CodeInternal    = "internal"     // any other store error
)

// Error is an error reply received from a server.
type Error struct {
	Code    string // one of the Code constants, or a code unknown to this version
	Message string // the server's description
}

// Error returns the code and the server's message.
func (e *Error) Error() string {
	return fmt.Sprintf("server (%s): %s", e.Code, strings.TrimPrefix(e.Message, "partd: "))
}

// Unwrap returns the partd sentinel error matching e.Code, if any, so that
// errors.Is(err, partd.ErrInvalidKey) works on a remote error.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeInvalidKey:
		return partd.ErrInvalidKey
	case CodeCorrupt:
		return partd.ErrCorrupt
	case CodeClosed:
		return partd.ErrClosed
	case CodeFull:
		return partd.ErrFull
	case CodeLost:
		return partd.ErrAttemptLost
	case CodeUnsupported:
		return errors.ErrUnsupported
	}
	return nil
}

// CodeOf returns the error code for err: the code of a wrapped *Error, the
// code of a partd sentinel, or CodeInternal.
func CodeOf(err error) string {
	var we *Error
	switch {
	case errors.As(err, &we):
		return we.Code
	case errors.Is(err, partd.ErrInvalidKey):
		return CodeInvalidKey
	case errors.Is(err, partd.ErrCorrupt):
		return CodeCorrupt
	case errors.Is(err, partd.ErrClosed):
		return CodeClosed
	case errors.Is(err, partd.ErrFull):
		return CodeFull
	case errors.Is(err, partd.ErrAttemptLost):
		return CodeLost
	case errors.Is(err, errors.ErrUnsupported):
		return CodeUnsupported
	}
	return CodeInternal
}

// FromPython turns a Python-dialect key into a partd key: "a-|-b" is "a/b".
func FromPython(key string) string {
	if !strings.Contains(key, TupleSep) {
		return key
	}
	return strings.ReplaceAll(key, TupleSep, "/")
}

// ToPython turns a partd key into a Python-dialect key: "a/b" is "a-|-b",
// which Python partd's server reads as the tuple key ("a", "b").
func ToPython(key string) string {
	if !strings.Contains(key, "/") {
		return key
	}
	return strings.ReplaceAll(key, "/", TupleSep)
}

// Stats is the JSON result of the stat command.
type Stats struct {
	Version       string            `json:"version"`        // protocol version, Version
	UptimeSeconds float64           `json:"uptime_seconds"` // since the server was created
	Requests      map[string]uint64 `json:"requests"`       // requests answered, by command ("other" for unknown ones)
	Errors        uint64            `json:"errors"`         // error replies sent
	BytesIn       uint64            `json:"bytes_in"`       // request payload bytes received
	BytesOut      uint64            `json:"bytes_out"`      // reply payload bytes sent
	InFlight      int64             `json:"in_flight"`      // requests being worked on when the stat was taken
	Workers       int               `json:"workers"`        // store worker goroutines
	Store         string            `json:"store"`          // the store's Go type
	StoreBytes    int64             `json:"store_bytes"`    // bytes the store holds, or -1 if it cannot tell
}

// PackedLen returns the length of Pack's encoding of items.
func PackedLen(items ...[]byte) int {
	n := 0
	for _, it := range items {
		n += uvarintLen(uint64(len(it))) + len(it)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Pack appends the Go-dialect encoding of items to dst: for each item its
// length as a uvarint, then its bytes.
func Pack(dst []byte, items ...[]byte) []byte {
	for _, it := range items {
		dst = binary.AppendUvarint(dst, uint64(len(it)))
		dst = append(dst, it...)
	}
	return dst
}

// PackString is Pack for one string item.
func PackString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// ErrPacked is returned by Unpack for a malformed packed frame.
var ErrPacked = errors.New("partd: malformed packed frame")

// Unpack splits a packed frame into its items, which alias body. It fails
// with ErrPacked on a truncated frame or one of more than maxItems items.
func Unpack(body []byte, maxItems int) ([][]byte, error) {
	var items [][]byte
	for len(body) > 0 {
		if len(items) >= maxItems {
			return nil, fmt.Errorf("%w: more than %d items", ErrPacked, maxItems)
		}
		n, w := binary.Uvarint(body)
		if w <= 0 || n > uint64(len(body)-w) {
			return nil, fmt.Errorf("%w: item %d runs past the end", ErrPacked, len(items))
		}
		body = body[w:]
		items = append(items, body[:n:n])
		body = body[n:]
	}
	return items, nil
}

// PackSizes appends the result of the sizes command to dst: each size as a
// uvarint.
func PackSizes(dst []byte, sizes []int64) []byte {
	for _, n := range sizes {
		dst = binary.AppendUvarint(dst, uint64(max(n, 0)))
	}
	return dst
}

// UnpackSizes decodes the result of the sizes command for n keys. It fails
// with ErrPacked unless b holds exactly n sizes.
func UnpackSizes(b []byte, n int) ([]int64, error) {
	sizes := make([]int64, n)
	for i := range sizes {
		v, w := binary.Uvarint(b)
		if w <= 0 || v > 1<<62 {
			return nil, fmt.Errorf("%w: size %d of %d is malformed", ErrPacked, i, n)
		}
		sizes[i] = int64(v)
		b = b[w:]
	}
	if len(b) > 0 {
		return nil, fmt.Errorf("%w: %d bytes after %d sizes", ErrPacked, len(b), n)
	}
	return sizes, nil
}
