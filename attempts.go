package partd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gopartd/partd/internal/keypath"
)

// ErrAttemptLost is returned by Attempt.Commit when another attempt of the
// same task committed first: this attempt's appends are discarded.
var ErrAttemptLost = errors.New("another attempt of the task committed first")

// AttemptsPrefix is the part of the key space where an Attempts keeps the
// appends of attempts not yet committed, and a record of each committed
// task. Keys under it are its own: Keys of an Attempts leaves them out.
const AttemptsPrefix = ".partd-attempts/"

// Attempts lets writers append under a task and an attempt, as a shuffle's
// map tasks that may be run again after a crash do, so that readers see
// each task's appends exactly once:
//
//   - An attempt's appends (Attempt.Append) go to keys of its own under
//     AttemptsPrefix: Get, Keys and sizes of the keys they are for do not
//     show them.
//   - Attempt.Commit makes all of them visible at once: it appends every
//     byte the attempt staged to its key, and a record that the task is
//     committed, in one Append, which the store applies whole or not at all
//     (a Log: crash-atomic; a Dict, and a Buffer over either: atomic in
//     memory). The first attempt of a task to commit wins; a later Commit
//     of another attempt returns ErrAttemptLost and discards that attempt.
//   - Attempt.Abort discards an attempt. A commit discards every other
//     attempt of its task; so does NewAttempts, for every
//     attempt of a task that is committed (what a crash between a commit
//     and its clean-up left), and DiscardUncommitted for all the rest, for
//     a job that starts again with no writer alive.
//   - Attempt.Append takes a sequence number, increasing from append to
//     append of one attempt: an append whose number is not above the last
//     one applied is a retry and is skipped, so a writer that lost the
//     answer to an append may send it again.
//
// One process must hold the store (a Log is locked to one process anyway):
// the first-commit-wins check is made under a lock of this Attempts. The
// stores that give the atomic Append it needs are a Log, a Dict and a
// Buffer whose slow store is one of them, under any wrappers (compression);
// NewAttempts refuses others (a File, whose keys are files of their own, a
// client, Redis) with an error wrapping errors.ErrUnsupported. Serve an
// Attempts-capable store and run the attempts in the server's process to
// share it.
//
// Commit reads the attempt's staged bytes into memory to append them: an
// attempt should stage what fits in memory (a map task's output).
type Attempts struct {
	valueForwarder
	mu    sync.Mutex // guards tasks
	tasks map[string]*sync.Mutex
}

// NewAttempts returns an Attempts over s, and discards what committed
// tasks' attempts left staged.
func NewAttempts(s Store) (*Attempts, error) {
	if !atomicBatches(s) {
		return nil, fmt.Errorf("partd: attempts over %T: %w (a Log, a Dict, or a Buffer over them commits a batch whole)", s, errors.ErrUnsupported)
	}
	a := &Attempts{valueForwarder: valueForwarder{s}, tasks: make(map[string]*sync.Mutex)}
	if err := a.discard(func(task string, committed bool) bool { return committed }); err != nil {
		return nil, err
	}
	return a, nil
}

// atomicBatches reports whether s applies a batch of keys whole or not at
// all.
func atomicBatches(s Store) bool {
	switch s := s.(type) {
	case *Log, *Dict:
		return true
	case *Buffer:
		return atomicBatches(s.slow)
	case Wrapper:
		return atomicBatches(s.Unwrap())
	}
	return false
}

// Unwrap returns the inner store.
func (a *Attempts) Unwrap() Store { return a.Store }

// Keys returns the keys that hold bytes, leaving out the attempts' own.
func (a *Attempts) Keys() ([]string, error) {
	keys, err := a.Store.Keys()
	return slices.DeleteFunc(keys, isAttemptKey), err
}

// KeysPrefix returns the keys under prefix that hold bytes, leaving out
// the attempts' own.
func (a *Attempts) KeysPrefix(prefix string) ([]string, error) {
	keys, err := KeysPrefix(a.Store, prefix)
	return slices.DeleteFunc(keys, isAttemptKey), err
}

// KeysPage returns a page of the keys under prefix, leaving out the
// attempts' own (they sort together: a page skips them whole).
func (a *Attempts) KeysPage(prefix, after string, limit int) ([]string, error) {
	var out []string
	for len(out) < limit {
		want := limit - len(out)
		page, err := KeysPage(a.Store, prefix, after, want)
		if err != nil || len(page) == 0 {
			return out, err
		}
		for _, k := range page {
			if !isAttemptKey(k) {
				out = append(out, k)
			}
		}
		if len(page) < want {
			break // the end
		}
		after = page[len(page)-1]
	}
	return out, nil
}

// Attempt returns attempt number attempt of task, to append under and
// then commit or abort. task must be a non-empty key part (no "/"). One
// goroutine (or process) appends under an attempt at a time.
func (a *Attempts) Attempt(task string, attempt int) (*Attempt, error) {
	if task == "" || strings.Contains(task, "/") || task == "." || task == ".." || attempt < 0 {
		return nil, fmt.Errorf("partd: attempt %q/%d: %w (a task is a non-empty key part, an attempt not negative)", task, attempt, ErrInvalidKey)
	}
	return &Attempt{a: a, task: task, n: attempt}, nil
}

// DiscardUncommitted deletes what every attempt that has not committed
// staged: for a job that starts again with no writer alive.
func (a *Attempts) DiscardUncommitted() error {
	return a.discard(func(string, bool) bool { return true })
}

// discard deletes the staged keys of every task for which drop(task,
// committed) says so.
func (a *Attempts) discard(drop func(task string, committed bool) bool) error {
	keys, err := KeysPrefix(a.Store, AttemptsPrefix)
	if err != nil {
		return fmt.Errorf("partd: attempts: listing: %w", err)
	}
	committed := map[string]bool{}
	for _, k := range keys {
		if task, rest, _ := strings.Cut(strings.TrimPrefix(k, AttemptsPrefix), "/"); rest == commitPart {
			committed[task] = true
		}
	}
	var del []string
	for _, k := range keys {
		task, rest, _ := strings.Cut(strings.TrimPrefix(k, AttemptsPrefix), "/")
		if rest != commitPart && drop(task, committed[task]) {
			del = append(del, k)
		}
	}
	if len(del) == 0 {
		return nil
	}
	return a.Store.Delete(del...)
}

// isAttemptKey reports whether k is one of the attempts' own keys.
func isAttemptKey(k string) bool { return strings.HasPrefix(k, AttemptsPrefix) }

// taskLock returns the lock of task's commits.
func (a *Attempts) taskLock(task string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.tasks[task]
	if m == nil {
		m = new(sync.Mutex)
		a.tasks[task] = m
	}
	return m
}

// The parts of the keys of a task under AttemptsPrefix: TASK/commit holds
// the committed attempt's number; TASK/aN/seq the sequence numbers of
// attempt N's appends; TASK/aN/d/KEY what it staged for KEY.
const (
	commitPart = "commit"
	seqPart    = "seq"
	dataPart   = "d/"
)

// Attempt is one attempt of one task (Attempts.Attempt).
type Attempt struct {
	a    *Attempts
	task string
	n    int
}

func (t *Attempt) prefix() string {
	return AttemptsPrefix + t.task + "/a" + strconv.Itoa(t.n) + "/"
}

func (t *Attempt) commitKey() string { return AttemptsPrefix + t.task + "/" + commitPart }

// Append stages data under the attempt, unless seq is not above the
// sequence number of the last append applied (a retry), in one Append.
func (t *Attempt) Append(seq uint64, data map[string][]byte) error {
	seqKey := t.prefix() + seqPart
	vals, err := t.a.Store.Get(seqKey)
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: %w", t.task, t.n, err)
	}
	if last := vals[0]; len(last) >= 8 && seq <= binary.BigEndian.Uint64(last[len(last)-8:]) {
		return nil // applied already
	}
	staged := make(map[string][]byte, len(data)+1)
	for k, v := range data {
		if err := keypath.Validate(k); err != nil {
			return fmt.Errorf("partd: attempt %s/%d: append: %w", t.task, t.n, err)
		}
		if strings.HasPrefix(k, AttemptsPrefix) {
			return fmt.Errorf("partd: attempt %s/%d: append: key %q is under %s: %w", t.task, t.n, k, AttemptsPrefix, ErrInvalidKey)
		}
		staged[t.prefix()+dataPart+k] = v
	}
	staged[seqKey] = binary.BigEndian.AppendUint64(nil, seq)
	if err := t.a.Store.Append(staged); err != nil {
		return fmt.Errorf("partd: attempt %s/%d: %w", t.task, t.n, err)
	}
	return nil
}

// Commit makes the attempt's appends visible, all at once, if no other
// attempt of the task committed before; else it discards them and returns
// ErrAttemptLost. Committing an attempt that is committed already (after
// a crash that lost the answer) returns nil.
func (t *Attempt) Commit() error {
	m := t.a.taskLock(t.task)
	m.Lock()
	defer m.Unlock()
	marker, err := t.a.Store.Get(t.commitKey())
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: commit: %w", t.task, t.n, err)
	}
	if len(marker[0]) > 0 {
		won := string(marker[0]) == strconv.Itoa(t.n)
		if err := t.discardTask(); err != nil {
			return err
		}
		if won {
			return nil
		}
		return fmt.Errorf("partd: attempt %s/%d: commit: %w (attempt %s did)", t.task, t.n, ErrAttemptLost, marker[0])
	}
	keys, err := KeysPrefix(t.a.Store, t.prefix()+dataPart)
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: commit: %w", t.task, t.n, err)
	}
	vals, err := t.a.Store.Get(keys...)
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: commit: %w", t.task, t.n, err)
	}
	batch := make(map[string][]byte, len(keys)+1)
	for i, k := range keys {
		batch[strings.TrimPrefix(k, t.prefix()+dataPart)] = vals[i]
	}
	batch[t.commitKey()] = []byte(strconv.Itoa(t.n))
	if err := t.a.Store.Append(batch); err != nil {
		return fmt.Errorf("partd: attempt %s/%d: commit: %w", t.task, t.n, err)
	}
	// The staged copies, and what other attempts of the task staged: they
	// can never commit. A crash before this leaves them to NewAttempts.
	return t.discardTask()
}

// discardTask deletes what every attempt of the task staged.
func (t *Attempt) discardTask() error {
	keys, err := KeysPrefix(t.a.Store, AttemptsPrefix+t.task+"/a")
	if err == nil && len(keys) > 0 {
		err = t.a.Store.Delete(keys...)
	}
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: discarding the task's other attempts: %w", t.task, t.n, err)
	}
	return nil
}

// Abort discards what the attempt staged.
func (t *Attempt) Abort() error {
	keys, err := KeysPrefix(t.a.Store, t.prefix())
	if err == nil && len(keys) > 0 {
		err = t.a.Store.Delete(keys...)
	}
	if err != nil {
		return fmt.Errorf("partd: attempt %s/%d: abort: %w", t.task, t.n, err)
	}
	return nil
}
