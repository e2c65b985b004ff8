package server

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// maxErrorMessage bounds the message of an error reply (an invalid key of a
// megabyte is quoted in the store's error).
const maxErrorMessage = 512

func badRequest(format string, args ...any) error {
	return &wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// quote quotes at most 40 bytes of b for an error message.
func quote(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q…", b[:40])
	}
	return fmt.Sprintf("%q", b)
}

// parsed is a request split into its dialect, id, command and payload.
type parsed struct {
	goDialect bool
	id        []byte // Go dialect only
	cmd       string
	payload   [][]byte
}

// parse splits a request. maxItems bounds the items of a Go-dialect packed
// payload (each costs a slice header, so they count against the size cap).
func parse(frames [][]byte, maxItems int) (parsed, error) {
	var p parsed
	if len(frames) > 0 && string(frames[0]) == wire.Version {
		p.goDialect = true
		if len(frames) > 1 {
			p.id = frames[1]
		}
		switch {
		case len(frames) < 3:
			return p, badRequest("Go-dialect request without a command")
		case len(frames) > 4:
			return p, badRequest("Go-dialect request with %d frames; the payload travels packed in one", len(frames))
		}
		p.cmd = string(frames[2])
		if len(frames) == 4 {
			items, err := wire.Unpack(frames[3], maxItems)
			if err != nil {
				return p, badRequest("%v", err)
			}
			p.payload = items
		}
		return p, nil
	}
	if len(frames) == 0 {
		return p, badRequest("empty request")
	}
	p.cmd, p.payload = string(frames[0]), frames[1:]
	return p, nil
}

// handle runs one request and builds its reply. It runs on a worker.
func (s *Server) handle(r *request) *reply {
	p, err := parse(r.frames, int(max(0, s.opts.maxMsg-r.size)/frameOverhead))
	var results [][]byte
	shutdown := false
	switch {
	case r.tooLarge:
		err = &wire.Error{Code: wire.CodeTooLarge,
			Message: fmt.Sprintf("request of at least %d bytes is over the cap of %d", r.size, s.opts.maxMsg)}
	case err == nil:
		results, shutdown, err = s.exec(p)
	}
	label := commandLabel(p.cmd)
	s.stats.requests[label].Add(1)
	if s.metrics != nil {
		s.metrics.duration.WithLabelValues(label).Observe(time.Since(r.start).Seconds())
	}
	rep := &reply{peer: r.peer, size: r.size, shutdown: shutdown && err == nil}
	if err != nil {
		code := wire.CodeOf(err)
		s.countError(label, code)
		s.opts.logger.Debug("partd server: request failed", "command", label, "code", code, "err", err)
		rep.msgs = errorMsgs(p, err)
		return rep
	}
	switch {
	case p.goDialect:
		rep.msgs = goReply(p.id, results)
	case p.cmd == wire.CmdSyn:
		rep.msgs = [][][]byte{append([][]byte{[]byte(wire.Ack)}, results...)}
	case p.cmd == wire.CmdGet:
		rep.msgs = [][][]byte{results, {[]byte(wire.Ack)}}
	default:
		rep.msgs = [][][]byte{{[]byte(wire.Ack)}}
	}
	return rep
}

// partSize is the size from which a Go-dialect reply is split into several
// messages (wire.StatusPart, then wire.StatusOK): the client can copy the
// first values out while later ones are still on the wire.
const partSize = 1 << 20

// goReply builds a successful Go-dialect reply.
func goReply(id []byte, results [][]byte) [][][]byte {
	var msgs [][][]byte
	cur := make([][]byte, 2, 2+len(results))
	cur[0], cur[1] = id, []byte(wire.StatusPart)
	n := 0
	for i, v := range results {
		cur = append(cur, v)
		n += len(v)
		if n >= partSize && i < len(results)-1 {
			msgs = append(msgs, cur)
			cur = [][]byte{id, []byte(wire.StatusPart)}
			n = 0
		}
	}
	cur[1] = []byte(wire.StatusOK)
	return append(msgs, cur)
}

// countError counts an error reply to a command (label, or "" for a
// request refused before its command was read) with a wire code: in the
// one set of counters that the stat command and the metrics both read.
func (s *Server) countError(label, code string) {
	if label == "" {
		label = "other"
	}
	s.stats.errorCount(label, code).Add(1)
}

// errorReply builds the error answer to a request the owner refuses itself.
func errorReply(r *request, err error) [][][]byte {
	p, _ := parse(r.frames, 0)
	return errorMsgs(p, err)
}

// errorMsgs builds an error answer in the request's dialect.
func errorMsgs(p parsed, err error) [][][]byte {
	code := wire.CodeOf(err)
	msg := err.Error()
	if we, ok := err.(*wire.Error); ok {
		msg = we.Message
	}
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "…"
	}
	if p.goDialect {
		return [][][]byte{{p.id, []byte(wire.StatusErr), []byte(code), []byte(msg)}}
	}
	// Python dialect: the error message, then the ack Python's client waits
	// for before its next request.
	return [][][]byte{{[]byte(wire.StatusErr), []byte(code), []byte(msg)}, {[]byte(wire.Ack)}}
}

// key turns a wire key into a validated store key.
func key(b []byte, python bool) (string, error) {
	if len(b) > partd.MaxKeyLen*2 { // cheap bound before any copy or quoting
		return "", &wire.Error{Code: wire.CodeInvalidKey,
			Message: fmt.Sprintf("key of %d bytes is longer than %d bytes", len(b), partd.MaxKeyLen)}
	}
	k := string(b)
	if python {
		k = wire.FromPython(k)
	}
	if err := partd.ValidateKey(k); err != nil {
		return "", err
	}
	return k, nil
}

func keys(frames [][]byte, python bool) ([]string, error) {
	ks := make([]string, len(frames))
	for i, f := range frames {
		k, err := key(f, python)
		if err != nil {
			return nil, err
		}
		ks[i] = k
	}
	return ks, nil
}

// Stats returns the server's figures, as the stat command reports them.
func (s *Server) Stats() wire.Stats {
	st := wire.Stats{
		Version:       wire.Version,
		UptimeSeconds: time.Since(s.created).Seconds(),
		Requests:      make(map[string]uint64, len(s.stats.requests)),
		Errors:        s.stats.errorTotal(),
		BytesIn:       s.stats.bytesIn.Load(),
		BytesOut:      s.stats.bytesOut.Load(),
		InFlight:      s.stats.inflight.Load(),
		Workers:       s.opts.workers,
		Store:         cmp.Or(s.opts.storeName, strings.TrimPrefix(fmt.Sprintf("%T", s.store), "*")),
		StoreBytes:    -1,
	}
	for c, n := range s.stats.requests {
		if v := n.Load(); v > 0 {
			st.Requests[c] = v
		}
	}
	st.StoreBytes, _ = partd.Size(s.store)
	return st
}
