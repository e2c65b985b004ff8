package redisstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopartd/partd"
	"github.com/redis/go-redis/v9"
)

// entry is one key of a batch with the pieces of its value.
type entry struct {
	key    string
	tag    string
	pieces [][]byte
	chunks []chunk // the pieces cut to size, once planned
}

// chunk is a piece of a value sent as one argument: inline in the script
// call, or staged under a name beforehand.
type chunk struct {
	data   []byte
	staged string
}

// unit is the part of a batch one script call writes atomically: the whole
// batch on one server, the keys of one hash tag in a cluster.
type unit struct {
	entries []*entry
}

// scriptCall is one call of a script; size is the bytes of values it carries.
type scriptCall struct {
	keys []string
	args []any
	size int64
}

// Append adds each value to the end of its key. The batch is checked whole
// first: an invalid key, or one that conflicts with a stored key, rejects it
// with partd.ErrInvalidKey and nothing written. See the package
// documentation for what is atomic.
func (s *Store) Append(data map[string][]byte) error {
	if err := s.check("append"); err != nil {
		return err
	}
	if err := partd.ValidateBatch(data); err != nil {
		return err
	}
	entries := make([]*entry, 0, len(data))
	for k, v := range data {
		if len(v) > 0 {
			entries = append(entries, &entry{key: k, tag: tagOf(k), pieces: [][]byte{v}})
		}
	}
	return s.write("append", "a", entries)
}

// AppendVectors appends, for each i, the concatenation of vecs[i] to
// keys[i], sending the pieces as they are (see partd.VectorAppender). It
// is Append in every other way.
func (s *Store) AppendVectors(keys []string, vecs [][][]byte) error {
	if err := s.check("append"); err != nil {
		return err
	}
	if len(keys) != len(vecs) {
		return fmt.Errorf("redisstore: append: %d keys but %d values", len(keys), len(vecs))
	}
	sizes := make(map[string]int, len(keys))
	for i, k := range keys {
		if _, dup := sizes[k]; dup {
			return fmt.Errorf("redisstore: append %q: %w: key repeats in the batch", k, partd.ErrInvalidKey)
		}
		n := 0
		for _, p := range vecs[i] {
			n += len(p)
		}
		sizes[k] = n
	}
	if err := partd.ValidateBatch(sizes); err != nil {
		return err
	}
	entries := make([]*entry, 0, len(keys))
	for i, k := range keys {
		if sizes[k] > 0 {
			entries = append(entries, &entry{key: k, tag: tagOf(k), pieces: vecs[i]})
		}
	}
	return s.write("append", "a", entries)
}

// Set replaces a key's bytes atomically, however many parts they take. An
// empty value deletes the key. Set may be retried after any error.
func (s *Store) Set(key string, value []byte) error {
	if err := s.check("set"); err != nil {
		return err
	}
	if err := partd.ValidateKey(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return s.del("set", []string{key})
	}
	return s.write("set", "s", []*entry{{key: key, tag: tagOf(key), pieces: [][]byte{value}}})
}

// write checks and writes a batch of non-empty values whose keys are valid
// and do not conflict with each other.
func (s *Store) write(op, mode string, entries []*entry) error {
	if len(entries) == 0 {
		return nil
	}
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.key, b.key) })
	units := s.group(entries)
	opid := rand.Text()

	// With several units (several hash tags of a cluster), check every key
	// against the stored ones before writing any: a conflict then rejects
	// the whole batch. The scripts check again as they write.
	if len(units) > 1 {
		calls := make([]scriptCall, len(units))
		for i, u := range units {
			calls[i] = s.writeCall("c", u, opid, false)
		}
		for _, cmd := range s.runScripts(writeScript, calls) {
			if err := s.verdict(op, cmd); err != nil {
				return err
			}
		}
	}

	staged := s.plan(units, opid)
	if err := s.stage(staged); err != nil {
		if !unavailable(err) { // else cleaning up would wait as long again: they expire
			s.unstage(staged)
		}
		return s.wrap(op, fmt.Errorf("staging values: %w", err))
	}

	calls := make([]scriptCall, len(units))
	for i, u := range units {
		calls[i] = s.writeCall(mode, u, opid, true)
	}
	cmds := s.runScripts(writeScript, calls)
	var (
		first    error
		wrote    bool // some unit was written, or may have been
		failed   bool // some unit was not written, or may not have been
		leftover []chunk
	)
	for i, cmd := range cmds {
		err := s.verdict(op, cmd)
		if err == nil {
			wrote = true
			continue
		}
		failed = true
		if first == nil {
			first = err
		}
		if cmd.Err() != nil {
			wrote = true // no answer: the script may have run
			continue     // and its staged chunks expire
		}
		for _, e := range units[i].entries { // refused: its staged chunks are left over
			for _, c := range e.chunks {
				if c.staged != "" {
					leftover = append(leftover, c)
				}
			}
		}
	}
	if !failed {
		return nil
	}
	s.unstage(leftover)
	if wrote && mode == "a" {
		return fmt.Errorf("%w (%w)", first, ErrMaybeWritten)
	}
	return first
}

// group splits a batch into the units one script call each writes.
func (s *Store) group(entries []*entry) []*unit {
	if s.cluster == nil {
		return []*unit{{entries: entries}}
	}
	byTag := make(map[string]*unit)
	var units []*unit
	for _, e := range entries {
		u := byTag[e.tag]
		if u == nil {
			u = &unit{}
			byTag[e.tag] = u
			units = append(units, u)
		}
		u.entries = append(u.entries, e)
	}
	return units
}

// plan cuts each unit's values into chunks of at most s.chunk bytes, inline
// while the unit's inline budget lasts and staged after, and returns the
// staged ones.
func (s *Store) plan(units []*unit, opid string) []chunk {
	var staged []chunk
	seq := 0
	for _, u := range units {
		budget := s.inline
		for _, e := range u.entries {
			e.chunks = e.chunks[:0]
			for _, p := range e.pieces {
				for len(p) > 0 {
					n := min(int64(len(p)), s.chunk)
					c := chunk{data: p[:n]}
					if n <= budget {
						budget -= n
					} else {
						seq++
						c.staged = s.name(kindStaged, e.tag, opid+"."+strconv.Itoa(seq))
						staged = append(staged, c)
					}
					e.chunks = append(e.chunks, c)
					p = p[n:]
				}
			}
		}
	}
	return staged
}

// stagingTTL is how long a staged chunk waits for its commit.
func (s *Store) stagingTTL() time.Duration { return 4*s.timeout + time.Minute }

// stage writes staged chunks, in pipelines of about s.inline bytes.
func (s *Store) stage(chunks []chunk) error {
	limit := max(s.inline, s.chunk)
	for i := 0; i < len(chunks); {
		ctx, cancel := s.ctx()
		pipe := s.c.Pipeline()
		var n int64
		for ; i < len(chunks) && (n == 0 || n+int64(len(chunks[i].data)) <= limit); i++ {
			pipe.Set(ctx, chunks[i].staged, chunks[i].data, s.stagingTTL())
			n += int64(len(chunks[i].data))
		}
		_, err := pipe.Exec(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// unstage deletes staged chunks, as far as it can: what it misses expires.
func (s *Store) unstage(chunks []chunk) {
	if len(chunks) == 0 {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	pipe := s.c.Pipeline()
	for _, c := range chunks {
		pipe.Unlink(ctx, c.staged)
	}
	_, _ = pipe.Exec(ctx)
}

// writeCall returns the call of writeScript for a unit; without chunks, it
// only checks (mode "c").
func (s *Store) writeCall(mode string, u *unit, opid string, withChunks bool) scriptCall {
	opTTL := (2*s.timeout + time.Second).Milliseconds()
	call := scriptCall{
		keys: make([]string, len(u.entries)),
		args: []any{mode, s.ns, s.partSize, opid, opTTL, mergeMax},
	}
	for i, e := range u.entries {
		call.keys[i] = s.name(kindData, e.tag, e.key)
		call.args = append(call.args, e.key, e.tag)
		if !withChunks {
			call.args = append(call.args, 0)
			continue
		}
		call.args = append(call.args, len(e.chunks))
		for _, c := range e.chunks {
			if c.staged != "" {
				call.args = append(call.args, "s", c.staged, len(c.data))
			} else {
				call.args = append(call.args, "i", c.data, 0)
				call.size += int64(len(c.data))
			}
		}
	}
	return call
}

// verdict turns the answer to a writeScript call into an error.
func (s *Store) verdict(op string, cmd *redis.Cmd) error {
	res, err := cmd.Slice()
	if err != nil {
		return s.wrap(op, err)
	}
	str := func(i int) string {
		if i < len(res) {
			if v, ok := res[i].(string); ok {
				return v
			}
		}
		return ""
	}
	switch str(0) {
	case "ok", "dup":
		return nil
	case "conflict":
		return fmt.Errorf("redisstore: %s %q: %w: conflicts with stored key %q", op, str(1), partd.ErrInvalidKey, str(2))
	case "lost":
		return fmt.Errorf("redisstore: %s %q: a staged chunk expired before its commit; nothing was written", op, str(1))
	case "corrupt":
		return fmt.Errorf("redisstore: %s %q: %w: %s", op, str(1), partd.ErrCorrupt, str(2))
	}
	return fmt.Errorf("redisstore: %s: unexpected answer %v from the write script", op, res)
}

// runScripts runs the calls of sc in pipelines of about s.inline bytes of
// values each, which the client splits per node, and returns their
// commands. A node that lacks the script (a new master after a failover)
// gets its source, which is safe: NOSCRIPT means the call did not run.
func (s *Store) runScripts(sc *redis.Script, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	for start := 0; start < len(calls); {
		end, n := start, int64(0)
		for end < len(calls) && (end == start || n+calls[end].size <= s.inline) {
			n += calls[end].size
			end++
		}
		ctx, cancel := s.ctx()
		pipe := s.c.Pipeline()
		for i := start; i < end; i++ {
			cmds[i] = sc.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, _ = pipe.Exec(ctx)
		var again []int
		for i := start; i < end; i++ {
			if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
				again = append(again, i)
			}
		}
		if len(again) > 0 {
			pipe = s.c.Pipeline()
			for _, i := range again {
				cmds[i] = sc.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
			}
			_, _ = pipe.Exec(ctx)
		}
		cancel()
		start = end
	}
	return cmds
}

// maxDeleteBatch is the most keys one call of deleteScript deletes.
const maxDeleteBatch = 1000

// Delete removes keys, each atomically with all its parts. Unknown and
// invalid keys are not an error. A Delete of several keys is not atomic;
// it may be retried after any error.
func (s *Store) Delete(keys ...string) error {
	if err := s.check("delete"); err != nil {
		return err
	}
	return s.del("delete", keys)
}

func (s *Store) del(op string, keys []string) error {
	var entries []*entry
	for _, k := range keys {
		if partd.ValidateKey(k) == nil {
			entries = append(entries, &entry{key: k, tag: tagOf(k)})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	var calls []scriptCall
	for _, u := range s.group(entries) {
		for batch := range slices.Chunk(u.entries, maxDeleteBatch) {
			call := scriptCall{keys: make([]string, len(batch)), args: []any{s.ns}}
			for i, e := range batch {
				call.keys[i] = s.name(kindData, e.tag, e.key)
				call.args = append(call.args, e.key, e.tag)
			}
			calls = append(calls, call)
		}
	}
	var errs []error
	for _, cmd := range s.runScripts(deleteScript, calls) {
		if err := cmd.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return s.wrap(op, errors.Join(errs...))
	}
	return nil
}

// Drop deletes every key of the namespace, each as Delete does, and the
// chunks staged for Appends in flight. It is not atomic: keys written
// while it runs may survive it. It may be retried after any error.
func (s *Store) Drop() error {
	if err := s.check("drop"); err != nil {
		return err
	}
	var keys, junk []string
	head := s.ns + ":"
	err := s.scan(head+"?{*", func(names []string) {
		for _, n := range names {
			if k, ok := s.keyOf(n); ok {
				keys = append(keys, k)
			} else if kind := n[len(head)]; kind == kindStaged || kind == kindApplied {
				junk = append(junk, n)
			}
		}
	})
	if err != nil {
		return s.wrap("drop", err)
	}
	if err := s.del("drop", keys); err != nil {
		return err
	}
	var staged []chunk
	for _, n := range junk {
		staged = append(staged, chunk{staged: n})
	}
	s.unstage(staged)
	return nil
}
