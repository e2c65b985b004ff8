package server

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

// A command runs one parsed request against the store: it returns the
// reply's results and whether the server should shut down once the reply
// is sent. Every key is validated before the store is called.
type command func(s *Server, p parsed) (results [][]byte, shutdown bool, err error)

// commandSpec is one entry of the command table.
type commandSpec struct {
	run    command
	goOnly bool // a Go-dialect extension, unknown to Python's partd
}

// commands is the command table: what the server does for each wire
// command. A command missing here, or a Go-only one sent in the Python
// dialect, is answered as unknown.
var commands = map[string]commandSpec{
	wire.CmdSyn:    {run: cmdSyn},
	wire.CmdAppend: {run: cmdAppend},
	wire.CmdGet:    {run: cmdGet},
	wire.CmdDelete: {run: cmdDelete},
	wire.CmdIset:   {run: cmdIset},
	wire.CmdDrop:   {run: cmdDrop},
	wire.CmdClose:  {run: cmdClose},
	wire.CmdKeys:   {run: cmdKeys, goOnly: true},
	wire.CmdStat:   {run: cmdStat, goOnly: true},
	wire.CmdSizes:  {run: cmdSizes, goOnly: true},
	wire.CmdList:   {run: cmdList, goOnly: true},
	wire.CmdPop:    {run: cmdPop, goOnly: true},

	wire.CmdAttemptAppend: {run: cmdAttemptAppend, goOnly: true},
	wire.CmdAttemptCommit: {run: cmdAttemptCommit, goOnly: true},
	wire.CmdAttemptAbort:  {run: cmdAttemptAbort, goOnly: true},
}

// commandLabels are the values of the "command" label and the keys of
// Stats.Requests: the known commands and "other", so that peers cannot grow
// the metrics without bound.
var commandLabels = []string{
	wire.CmdSyn, wire.CmdAppend, wire.CmdGet, wire.CmdDelete, wire.CmdIset, wire.CmdDrop,
	wire.CmdClose, wire.CmdKeys, wire.CmdStat, wire.CmdSizes, wire.CmdList, wire.CmdPop,
	wire.CmdAttemptAppend, wire.CmdAttemptCommit, wire.CmdAttemptAbort, "other",
}

// commandLabel returns the label under which a command is counted.
func commandLabel(cmd string) string {
	if _, ok := commands[cmd]; ok {
		return cmd
	}
	return "other"
}

// exec looks the request's command up in the command table and runs it.
func (s *Server) exec(p parsed) (results [][]byte, shutdown bool, err error) {
	c, ok := commands[p.cmd]
	switch {
	case ok && (p.goDialect || !c.goOnly):
		return c.run(s, p)
	case p.cmd == "":
		return nil, false, badRequest("empty command")
	}
	return nil, false, badRequest("unknown command %s", quote([]byte(p.cmd)))
}

// cmdSyn answers the handshake. The Go client's carries its dialect, and
// gets back the dialect and the message cap.
func cmdSyn(s *Server, p parsed) ([][]byte, bool, error) {
	if !p.goDialect && len(p.payload) > 0 && string(p.payload[0]) == wire.Version {
		return [][]byte{[]byte(wire.Version), strconv.AppendInt(nil, s.opts.maxMsg, 10)}, false, nil
	}
	return nil, false, nil
}

// cmdAppend appends key, value pairs.
func cmdAppend(s *Server, p parsed) ([][]byte, bool, error) {
	if len(p.payload)%2 != 0 {
		return nil, false, badRequest("append needs key, value pairs; got %d frames", len(p.payload))
	}
	data := make(map[string][]byte, len(p.payload)/2)
	for i := 0; i < len(p.payload); i += 2 {
		k, err := key(p.payload[i], !p.goDialect)
		if err != nil {
			return nil, false, err
		}
		v := p.payload[i+1]
		if old, dup := data[k]; dup {
			// Two wire keys for one store key ("a-|-b" and "a/b"): keep both
			// values, in order.
			v = append(append(make([]byte, 0, len(old)+len(v)), old...), v...)
		}
		data[k] = v
	}
	return nil, false, s.store.Append(data)
}

// cmdGet returns the values of one or more keys.
func cmdGet(s *Server, p parsed) ([][]byte, bool, error) {
	if len(p.payload) == 0 {
		return nil, false, badRequest("get needs at least one key")
	}
	return perKey(p, !p.goDialect, "values", func(ks []string) ([][]byte, int, error) {
		vs, err := s.store.Get(ks...)
		return vs, len(vs), err
	})
}

// cmdDelete deletes keys.
func cmdDelete(s *Server, p parsed) ([][]byte, bool, error) {
	ks, err := keys(p.payload, !p.goDialect)
	if err != nil {
		return nil, false, err
	}
	return nil, false, s.store.Delete(ks...)
}

// cmdIset replaces one key's value.
func cmdIset(s *Server, p parsed) ([][]byte, bool, error) {
	if len(p.payload) != 2 {
		return nil, false, badRequest("iset needs a key and a value; got %d frames", len(p.payload))
	}
	k, err := key(p.payload[0], !p.goDialect)
	if err != nil {
		return nil, false, err
	}
	return nil, false, s.store.Set(k, p.payload[1])
}

// cmdDrop removes every key.
func cmdDrop(s *Server, p parsed) ([][]byte, bool, error) {
	if len(p.payload) != 0 {
		return nil, false, badRequest("drop takes no payload; got %d frames", len(p.payload))
	}
	return nil, false, s.store.Drop()
}

// cmdClose shuts the server down if WithRemoteClose allows it.
func cmdClose(s *Server, _ parsed) ([][]byte, bool, error) {
	if !s.opts.remoteClose {
		return nil, false, &wire.Error{Code: wire.CodeForbidden, Message: "remote close is not allowed by this server"}
	}
	s.opts.logger.Info("partd server: remote close")
	return nil, true, nil
}

// cmdKeys returns every key.
func cmdKeys(s *Server, _ parsed) ([][]byte, bool, error) {
	ks, err := s.store.Keys()
	if err != nil {
		return nil, false, err
	}
	return keyFrames(ks), false, nil
}

// cmdStat returns the server's figures as JSON.
func cmdStat(s *Server, _ parsed) ([][]byte, bool, error) {
	b, err := json.Marshal(s.Stats())
	if err != nil {
		return nil, false, err
	}
	return [][]byte{b}, false, nil
}

// cmdSizes returns the size of each key's value, packed in one frame.
func cmdSizes(s *Server, p parsed) ([][]byte, bool, error) {
	return perKey(p, false, "sizes", func(ks []string) ([][]byte, int, error) {
		sizes, err := partd.Sizes(s.store, ks...)
		return [][]byte{wire.PackSizes(nil, sizes)}, len(sizes), err
	})
}

// cmdPop returns and deletes the values of keys.
func cmdPop(s *Server, p parsed) ([][]byte, bool, error) {
	return perKey(p, false, "values", func(ks []string) ([][]byte, int, error) {
		vs, err := partd.Pop(s.store, ks...)
		return vs, len(vs), err
	})
}

// cmdList answers the list command: [prefix] for every key with the prefix,
// [prefix, after, limit] for a page of them.
func cmdList(s *Server, p parsed) ([][]byte, bool, error) {
	payload := p.payload
	if len(payload) != 1 && len(payload) != 3 {
		return nil, false, badRequest("list needs a prefix, or a prefix, a key to start after and a limit; got %d items", len(payload))
	}
	for _, b := range payload[:min(2, len(payload))] {
		if len(b) > partd.MaxKeyLen {
			return nil, false, badRequest("list: prefix or key of %d bytes is longer than %d bytes", len(b), partd.MaxKeyLen)
		}
	}
	prefix := string(payload[0])
	var ks []string
	var err error
	if len(payload) == 1 {
		ks, err = partd.KeysPrefix(s.store, prefix)
	} else {
		limit, perr := strconv.Atoi(string(payload[2]))
		if perr != nil || limit < 1 || limit > wire.MaxListPage {
			return nil, false, badRequest("list: limit %s is not a number from 1 to %d", quote(payload[2]), wire.MaxListPage)
		}
		ks, err = partd.KeysPage(s.store, prefix, string(payload[1]), limit)
	}
	if err != nil {
		return nil, false, err
	}
	return keyFrames(ks), false, nil
}

// keyFrames returns keys as reply frames.
func keyFrames(ks []string) [][]byte {
	out := make([][]byte, len(ks))
	for i, k := range ks {
		out[i] = []byte(k)
	}
	return out
}

// perKey runs a command that answers for each key of the payload: fn
// returns the reply frames and how many results the store gave, which
// must be one per key (what names them in the error).
func perKey(p parsed, python bool, what string, fn func(keys []string) ([][]byte, int, error)) ([][]byte, bool, error) {
	ks, err := keys(p.payload, python)
	if err != nil {
		return nil, false, err
	}
	out, n, err := fn(ks)
	if err != nil {
		return nil, false, err
	}
	if n != len(ks) {
		return nil, false, fmt.Errorf("partd/server: store returned %d %s for %d keys", n, what, len(ks))
	}
	return out, false, nil
}
