package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/errs"
	"github.com/gopartd/partd/internal/keypath"
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
		if err := s.precheck(op, units, opid); err != nil {
			return err
		}
	}

	staged := s.plan(units, opid)
	if err := s.stage(staged); err != nil {
		if !unavailable(err) { // else cleaning up would wait as long again: they expire
			s.unstage(staged)
		}
		return s.wrap(op, fmt.Errorf("staging values: %w", err))
	}

	outs := make([]outcome, len(units))
	var scripted []int // the units writeScript writes
	if mode == "a" {
		scripted = s.appendFast(op, units, opid, outs)
	} else {
		for i := range units {
			scripted = append(scripted, i)
		}
	}
	if len(scripted) > 0 {
		calls := make([]scriptCall, len(scripted))
		for j, i := range scripted {
			calls[j] = s.writeCall(mode, units[i], opid, true)
		}
		cmds, waitErrs := s.runScripts(op, writeScript, calls, s.waitN > 0)
		for j, cmd := range cmds {
			err := s.verdict(op, cmd)
			// No answer: the script may have run, and its staged chunks
			// expire. A redirection is an answer: it did not run.
			outs[scripted[j]] = outcome{err: err, unsure: err != nil && cmd.Err() != nil && !redirected(cmd.Err())}
			if err == nil && waitErrs != nil && waitErrs[j] != nil { // written, but not replicated as asked
				outs[scripted[j]] = outcome{err: waitErrs[j], unsure: true}
			}
		}
	}
	var (
		first    error
		wrote    bool // some unit was written, or may have been
		failed   bool // some unit was not written, or may not have been
		leftover []chunk
	)
	for i, o := range outs {
		if o.err == nil {
			wrote = true
			continue
		}
		failed = true
		if first == nil {
			first = o.err
		}
		if o.unsure {
			wrote = true
			continue
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
	if wrote && mode == "a" && !errors.Is(first, ErrMaybeWritten) {
		return fmt.Errorf("%w (%w)", first, ErrMaybeWritten)
	}
	return first
}

// outcome is how the write of one unit ended.
type outcome struct {
	err    error // nil if the unit was written (or had been, by a replay)
	unsure bool  // err is no verdict: the unit may have been written
}

// precheck checks the keys of a batch of several units against the stored
// ones with plain commands, pipelined: the type of each data name, and for
// each new key whether a tuple parent of it or a key under it is stored. A
// unit whose answers are not all clean (a new key with a conflict, a key in
// parts, a name of another type) is checked again by writeScript in check
// mode, which gives the verdict.
func (s *Store) precheck(op string, units []*unit, opid string) error {
	ctx, cancel := s.ctx()
	pipe := s.c.Pipeline()
	types := make([][]*redis.StatusCmd, len(units))
	for i, u := range units {
		for _, e := range u.entries {
			types[i] = append(types[i], pipe.Type(ctx, s.name(kindData, e.tag, e.key)))
		}
	}
	_, _ = pipe.Exec(ctx)
	cancel()
	ctx, cancel = s.ctx()
	defer cancel()
	doubtful := make([]bool, len(units))
	type newKey struct {
		unit   int
		exists *redis.IntCmd
	}
	var news []newKey
	pipe = s.c.Pipeline()
	for i, u := range units {
		for j, e := range u.entries {
			t, err := types[i][j].Result()
			if err != nil {
				return s.wrap(op, err)
			}
			switch t {
			case "string":
			case "none":
				names := []string{s.name(kindCount, e.tag, e.key)}
				for p := range keypath.Parents(e.key) {
					names = append(names, s.name(kindData, e.tag, p))
				}
				news = append(news, newKey{i, pipe.Exists(ctx, names...)})
			default:
				doubtful[i] = true
			}
		}
	}
	if len(news) > 0 {
		_, _ = pipe.Exec(ctx)
		for _, k := range news {
			n, err := k.exists.Result()
			if err != nil {
				return s.wrap(op, err)
			}
			if n > 0 {
				doubtful[k.unit] = true
			}
		}
	}
	var calls []scriptCall
	for i, u := range units {
		if doubtful[i] {
			calls = append(calls, s.writeCall("c", u, opid, false))
		}
	}
	cmds, _ := s.runScripts(op, writeScript, calls, false)
	for _, cmd := range cmds {
		if err := s.verdict(op, cmd); err != nil {
			return err
		}
	}
	return nil
}

// fastMin is the fewest bytes of values for which an Append of a unit takes
// the fast path (see appendFast): below it, the two script calls of the
// fast path cost more than passing the values through writeScript.
const fastMin = 16 << 10

// appendFast appends, by the fast path, the units whose values are all
// inline and at least fastMin bytes, and sets their outcomes. It returns the
// others, and those that the fast path left unwritten for writeScript: a
// key in parts or growing past a part, or a transaction the server refused
// before running it.
//
// The fast path sends a unit's values as plain APPENDs in a MULTI … EXEC,
// between the two steps of fastScript, which check and account for them:
// no value passes through Lua, which hashes every byte of every string it
// is given. Each unit is one transaction, atomic as a writeScript call;
// the transactions are pipelined per node.
func (s *Store) appendFast(op string, units []*unit, opid string, outs []outcome) (rest []int) {
	byNode := make(map[*redis.Client][]int)
	var nodes []*redis.Client
	for i, u := range units {
		var c *redis.Client
		if s.fastFits(u) {
			c = s.nodeOf(u)
		}
		if c == nil {
			rest = append(rest, i)
			continue
		}
		if byNode[c] == nil {
			nodes = append(nodes, c)
		}
		byNode[c] = append(byNode[c], i)
	}
	if len(nodes) == 0 {
		return rest
	}
	txs := make([]fastTx, len(units))
	var wg sync.WaitGroup
	for _, c := range nodes {
		if len(nodes) == 1 {
			s.runFast(c, units, byNode[c], opid, txs)
		} else {
			wg.Go(func() { s.runFast(c, units, byNode[c], opid, txs) })
		}
	}
	wg.Wait()
	for i, tx := range txs {
		if tx.exec == nil {
			continue
		}
		var again bool
		outs[i], again = s.fastOutcome(op, units[i], tx)
		if again {
			rest = append(rest, i)
		} else if outs[i].err == nil && tx.wait != nil {
			if err := s.waitVerdict(op, tx.wait); err != nil { // written, but not replicated as asked
				outs[i] = outcome{err: err, unsure: true}
			}
		}
	}
	slices.Sort(rest)
	return rest
}

// unitBytes returns the bytes of values of u.
func unitBytes(u *unit) int64 {
	var n int64
	for _, e := range u.entries {
		for _, c := range e.chunks {
			n += int64(len(c.data))
		}
	}
	return n
}

// fastFits reports whether u may take the fast path: at least fastMin bytes
// of values, none staged, and no key given more than a part.
func (s *Store) fastFits(u *unit) bool {
	var total int64
	for _, e := range u.entries {
		var n int64
		for _, c := range e.chunks {
			if c.staged != "" {
				return false
			}
			n += int64(len(c.data))
		}
		if n > s.partSize {
			return false
		}
		total += n
	}
	return total >= fastMin
}

// nodeOf returns the client of the server that holds u, or nil if the
// cluster client cannot tell.
func (s *Store) nodeOf(u *unit) *redis.Client {
	if s.cluster == nil {
		return s.c.(*redis.Client)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	e := u.entries[0]
	c, err := s.cluster.MasterForKey(ctx, s.name(kindData, e.tag, e.key))
	if err != nil {
		return nil
	}
	return c
}

// fastTx is the MULTI and EXEC of a fast-path transaction, and the WAIT
// after it under WithWaitReplicas.
type fastTx struct {
	multi, exec *redis.Cmd
	wait        *redis.Cmd
}

// runFast sends the fast-path transactions of units[i] for i in which to
// the server c, in pipelines of about s.inline bytes of values, and sets
// txs[i] to each one's. Under WithWaitReplicas, each pipeline ends with a
// WAIT.
func (s *Store) runFast(c *redis.Client, units []*unit, which []int, opid string, txs []fastTx) {
	for start := 0; start < len(which); {
		end, n := start, int64(0)
		for end < len(which) && (end == start || n+unitBytes(units[which[end]]) <= s.inline) {
			n += unitBytes(units[which[end]])
			end++
		}
		ctx, cancel := s.ctx()
		if s.waitN > 0 {
			ctx, cancel = s.waitCtx()
		}
		pipe := c.Pipeline()
		for _, i := range which[start:end] {
			txs[i] = s.queueFast(ctx, pipe, units[i], opid)
		}
		if s.waitN > 0 {
			// On the connection of the transactions: WAIT counts the
			// replication offset of its own connection's last write.
			wait := s.queueWait(ctx, pipe)
			for _, i := range which[start:end] {
				txs[i].wait = wait
			}
		}
		_, _ = pipe.Exec(ctx)
		cancel()
		start = end
	}
}

// queueFast queues on pipe the transaction that appends u by the fast path.
func (s *Store) queueFast(ctx context.Context, pipe redis.Pipeliner, u *unit, opid string) fastTx {
	opTTL := (2*s.timeout + time.Second).Milliseconds()
	keys := make([]string, len(u.entries))
	pre := make([]any, 0, 5+3*len(u.entries))
	pre = append(pre, "pre", s.ns, opid, opTTL, s.partSize)
	post := make([]any, 0, 3+len(u.entries))
	post = append(post, "post", s.ns, opid)
	for i, e := range u.entries {
		keys[i] = s.name(kindData, e.tag, e.key)
		var n int64
		for _, c := range e.chunks {
			n += int64(len(c.data))
		}
		pre = append(pre, e.key, e.tag, n)
		post = append(post, e.tag)
	}
	multi := pipe.Do(ctx, "multi")
	fastScript.Eval(ctx, pipe, keys, pre...) // with its source: it runs on any server
	for i, e := range u.entries {
		for _, c := range e.chunks {
			pipe.Do(ctx, "append", keys[i], c.data)
		}
	}
	fastScript.EvalSha(ctx, pipe, keys, post...) // loaded by the EVAL before it
	return fastTx{multi: multi, exec: pipe.Do(ctx, "exec")}
}

// fastOutcome reads the answers to a fast-path transaction: the unit's
// outcome, or again if the fast path left it unwritten for writeScript.
func (s *Store) fastOutcome(op string, u *unit, tx fastTx) (o outcome, again bool) {
	if err := tx.multi.Err(); err != nil {
		// No answer, or MULTI refused: then the commands after it, if
		// they were not refused too, ran one by one.
		return outcome{err: s.wrap(op, err), unsure: true}, false
	}
	res, err := tx.exec.Slice()
	if err != nil {
		var re redis.Error
		if errors.As(err, &re) {
			// EXEC answered an error (EXECABORT: a command was refused
			// as it was queued, such as MOVED): nothing ran.
			return outcome{}, true
		}
		return outcome{err: s.wrap(op, err), unsure: true}, false
	}
	appends := 0
	for _, e := range u.entries {
		appends += len(e.chunks)
	}
	unexpected := func(what any) (outcome, bool) {
		return outcome{err: fmt.Errorf("redisstore: %s: unexpected answer %v from the fast append", op, what), unsure: true}, false
	}
	if len(res) != appends+2 {
		return unexpected(res)
	}
	if err, ok := res[len(res)-1].(error); ok { // the undoing step failed
		return outcome{err: s.wrap(op, err), unsure: true}, false
	}
	if err, ok := res[0].(error); ok { // the checking step failed part way
		return outcome{err: s.wrap(op, err), unsure: true}, false
	}
	pre, ok := res[0].([]any)
	if !ok || len(pre) == 0 {
		return unexpected(res[0])
	}
	switch pre[0] {
	case "ok":
		for _, r := range res[1 : len(res)-1] {
			if err, ok := r.(error); ok {
				return outcome{err: s.wrap(op, err), unsure: true}, false
			}
		}
		return outcome{}, false
	case "dup":
		return outcome{}, false
	case "slow":
		return outcome{}, true
	}
	// Refused: the APPENDs went to fresh strings, which the undoing step
	// deleted; whether they failed does not matter.
	return outcome{err: s.verdictOf(op, pre)}, false
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
	return s.verdictOf(op, res)
}

// verdictOf turns the verdict of writeScript or fastScript into an error.
func (s *Store) verdictOf(op string, res []any) error {
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
		return errs.Conflict("redisstore", op, str(1), str(2))
	case "lost":
		return fmt.Errorf("redisstore: %s %q: a staged chunk expired before its commit; nothing was written", op, str(1))
	case "corrupt":
		return fmt.Errorf("redisstore: %s %q: %w: %s", op, str(1), partd.ErrCorrupt, str(2))
	}
	return fmt.Errorf("redisstore: %s: unexpected answer %v from the write script", op, res)
}

// runScripts runs the calls of sc and returns their commands. A node that
// lacks the script (a new master after a failover) gets its source, which
// is safe: NOSCRIPT means the call did not run.
//
// With wait (under WithWaitReplicas), it also returns, for each call, the
// error of the WAIT that followed it on its connection, or nil if enough
// replicas acknowledged: see runPinned. Without, the second result is nil.
func (s *Store) runScripts(op string, sc *redis.Script, calls []scriptCall, wait bool) ([]*redis.Cmd, []error) {
	if wait {
		return s.runPinned(op, sc, calls)
	}
	cmds := make([]*redis.Cmd, len(calls))
	for start := 0; start < len(calls); {
		end := s.batchEnd(calls, start)
		ctx, cancel := s.ctx()
		// The client splits the pipeline per node.
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
	return cmds, nil
}

// batchEnd returns the end of the pipeline of calls that starts at start:
// about s.inline bytes of values, at least one call.
func (s *Store) batchEnd(calls []scriptCall, start int) int {
	end, n := start, int64(0)
	for end < len(calls) && (end == start || n+calls[end].size <= s.inline) {
		n += calls[end].size
		end++
	}
	return end
}

// runPinned runs the calls of sc as runScripts does, each on the master
// that holds its keys through that master's own client, in pipelines that
// end with WAIT: WAIT counts the replication offset of its connection's
// last write, so it must follow the writes on their connection, which a
// cluster client's pipeline, routing a keyless command to any node, does
// not ensure. A call the master redirects (MOVED or ASK: it did not run,
// the client's map of the slots is stale) is sent again once, after the
// map names another master for it (see awaitMove). The second result
// holds, for each call whose script ran, the WAIT's verdict (see
// waitVerdict).
func (s *Store) runPinned(op string, sc *redis.Script, calls []scriptCall) ([]*redis.Cmd, []error) {
	cmds := make([]*redis.Cmd, len(calls))
	waitErrs := make([]error, len(calls))
	sentTo := make([]*redis.Client, len(calls))
	pending := make([]int, len(calls))
	for i := range pending {
		pending[i] = i
	}
	for round := 0; ; round++ {
		byNode := make(map[*redis.Client][]int)
		var nodes []*redis.Client
		for _, i := range pending {
			c, err := s.masterFor(calls[i].keys[0])
			if err != nil {
				cmds[i] = redis.NewCmd(context.Background())
				cmds[i].SetErr(err)
				continue
			}
			sentTo[i] = c
			if byNode[c] == nil {
				nodes = append(nodes, c)
			}
			byNode[c] = append(byNode[c], i)
		}
		var wg sync.WaitGroup
		for _, c := range nodes {
			if len(nodes) == 1 {
				s.runOnNode(op, c, sc, calls, byNode[c], cmds, waitErrs)
			} else {
				wg.Go(func() { s.runOnNode(op, c, sc, calls, byNode[c], cmds, waitErrs) })
			}
		}
		wg.Wait()
		var moved []int
		for _, i := range pending {
			if redirected(cmds[i].Err()) {
				moved = append(moved, i)
			}
		}
		if len(moved) == 0 || round > 0 || s.cluster == nil {
			return cmds, waitErrs
		}
		s.awaitMove(calls, moved, sentTo)
		pending = moved
	}
}

// redirected reports whether err is a cluster's redirection (MOVED, ASK):
// the command did not run.
func redirected(err error) bool {
	return redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK")
}

// awaitMove has the cluster client reload its map of the slots, and waits
// until the map names, for each call calls[i] with i in moved, another
// master than sentTo[i], which redirected it, or for the store's timeout.
// The client reloads in the background.
func (s *Store) awaitMove(calls []scriptCall, moved []int, sentTo []*redis.Client) {
	deadline := time.Now().Add(s.timeout)
	for {
		s.cluster.ReloadState(context.Background())
		time.Sleep(reloadPoll)
		done := true
		for _, i := range moved {
			if c, err := s.masterFor(calls[i].keys[0]); err != nil || c == sentTo[i] {
				done = false
				break
			}
		}
		if done || time.Now().After(deadline) {
			return
		}
	}
}

// reloadPoll is how often awaitMove looks at the cluster client's map of
// the slots.
const reloadPoll = 50 * time.Millisecond

// masterFor returns the client of the master that holds the name n.
func (s *Store) masterFor(n string) (*redis.Client, error) {
	if s.cluster == nil {
		return s.c.(*redis.Client), nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return s.cluster.MasterForKey(ctx, n)
}

// runOnNode runs calls[i] for i in which on the server c, in pipelines of
// about s.inline bytes of values each ending with WAIT, and sets cmds[i]
// and waitErrs[i].
func (s *Store) runOnNode(op string, c *redis.Client, sc *redis.Script, calls []scriptCall, which []int, cmds []*redis.Cmd, waitErrs []error) {
	mine := make([]scriptCall, len(which))
	for j, i := range which {
		mine[j] = calls[i]
	}
	for start := 0; start < len(which); {
		end := s.batchEnd(mine, start)
		batch := which[start:end]
		ctx, cancel := s.waitCtx()
		for attempt := 0; attempt < 2 && len(batch) > 0; attempt++ {
			pipe := c.Pipeline()
			for _, i := range batch {
				if attempt == 0 {
					cmds[i] = sc.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
				} else {
					cmds[i] = sc.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
				}
			}
			wait := s.queueWait(ctx, pipe)
			_, _ = pipe.Exec(ctx)
			var again []int
			for _, i := range batch {
				if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
					again = append(again, i)
				} else {
					waitErrs[i] = s.waitVerdict(op, wait)
				}
			}
			batch = again
		}
		cancel()
		start = end
	}
}

// queueWait queues on pipe a WAIT for s.waitN replicas.
func (s *Store) queueWait(ctx context.Context, pipe redis.Pipeliner) *redis.Cmd {
	return pipe.Do(ctx, "wait", s.waitN, s.waitTimeout.Milliseconds())
}

// waitVerdict turns the answer to a WAIT after a write into an error, nil
// if at least s.waitN replicas acknowledged the write. The error wraps
// ErrUnavailable and ErrMaybeWritten: the master has the write (or may
// have: no answer came), its replicas may not.
func (s *Store) waitVerdict(op string, wait *redis.Cmd) error {
	n, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("%w (%w)", s.wrap(op, fmt.Errorf("waiting for %d replicas: %w", s.waitN, err)), ErrMaybeWritten)
	}
	if int(n) < s.waitN {
		return fmt.Errorf("redisstore: %s: %w: written on the master, but acknowledged by %d of %d replicas within %v (%w)",
			op, ErrUnavailable, n, s.waitN, s.waitTimeout, ErrMaybeWritten)
	}
	return nil
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
	cmds, waitErrs := s.runScripts(op, deleteScript, calls, s.waitN > 0)
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return s.wrap(op, errors.Join(errs...))
	}
	for _, err := range waitErrs {
		if err != nil {
			return err
		}
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
