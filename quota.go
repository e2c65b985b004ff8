package partd

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
)

// Quota is a Store that limits the bytes its inner store keeps on disk: an
// Append or Set that could take them past the limit is refused with an
// error wrapping ErrFull and writes nothing. So is one that fails because
// the disk is full (ENOSPC, EDQUOT), whatever the limit: on a full disk the
// inner store writes nothing either (a Log and a Buffer undo what they
// began), and the error says so in one type rather than as an I/O error.
// Reads, deletes and the rest go through untouched, so a full store keeps
// serving, and deleting keys (then compaction) makes room.
//
// The count is conservative: it is the bytes in the Log's segment files,
// live or not yet compacted away, plus what a Buffer holds in memory (it
// will go to disk), plus the bytes of the calls under way. What a
// compaction writes before it removes a segment is not counted: leave room
// for one segment.
//
// Quota supports a Log, and a Buffer whose slow store is a Log (or another
// Buffer that is), under any layers that Unwrap to them; NewQuota returns
// an error wrapping errors.ErrUnsupported for other stores (a File, a
// Dict, a client, Redis) rather than a limit it could not keep.
type Quota struct {
	valueForwarder
	max      int64
	usage    func() int64
	reserved atomic.Int64 // bytes of the Appends and Sets under way
}

// NewQuota returns s limited to max bytes on disk; max <= 0 sets no limit,
// leaving only the typed error of a full disk.
func NewQuota(s Store, max int64) (*Quota, error) {
	usage, ok := diskUsage(s)
	if !ok {
		return nil, fmt.Errorf("partd: quota over %T: %w (a Log, or a Buffer over a Log, can count its disk)", s, errors.ErrUnsupported)
	}
	return &Quota{valueForwarder: valueForwarder{s}, max: max, usage: usage}, nil
}

// diskUsage returns how to count the bytes s keeps on disk and will write
// there.
func diskUsage(s Store) (func() int64, bool) {
	switch s := s.(type) {
	case *Log:
		return func() int64 { return s.Stats().Bytes }, true
	case *Buffer:
		slow, ok := diskUsage(s.slow)
		if !ok {
			return nil, false
		}
		return func() int64 { return slow() + s.Size() }, true
	case Wrapper:
		return diskUsage(s.Unwrap())
	}
	return nil, false
}

// Unwrap returns the inner store.
func (q *Quota) Unwrap() Store { return q.Store }

// Usage returns the bytes counted against the limit now.
func (q *Quota) Usage() int64 { return q.usage() + q.reserved.Load() }

// Limit returns the limit, or 0 for none.
func (q *Quota) Limit() int64 { return max(q.max, 0) }

// Append appends data if the bytes on disk stay within the limit.
func (q *Quota) Append(data map[string][]byte) error {
	var n int64
	for k, v := range data {
		n += int64(len(k) + len(v))
	}
	return q.write("append", n, func() error { return q.Store.Append(data) })
}

// Set sets key to value if the bytes on disk stay within the limit.
func (q *Quota) Set(key string, value []byte) error {
	return q.write("set", int64(len(key)+len(value)), func() error { return q.Store.Set(key, value) })
}

// write reserves n bytes, refuses the call if they do not fit, and runs
// it, turning a full disk into ErrFull.
func (q *Quota) write(op string, n int64, call func() error) error {
	res := q.reserved.Add(n)
	defer q.reserved.Add(-n)
	if q.max > 0 {
		if used := q.usage() + res; used > q.max {
			return fmt.Errorf("partd: quota: %s of %d bytes: %w (%d of %d bytes on disk in use or under way)", op, n, ErrFull, used-n, q.max)
		}
	}
	err := call()
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("partd: quota: %s: %w: the disk is full: %w", op, ErrFull, err)
	}
	return err
}

// AppendVectors appends as Append does, without joining the vectors where
// the inner store takes them as they are (VectorAppender).
func (q *Quota) AppendVectors(keys []string, vecs [][][]byte) error {
	var n int64
	for i, k := range keys {
		n += int64(len(k))
		if i < len(vecs) {
			for _, b := range vecs[i] {
				n += int64(len(b))
			}
		}
	}
	return q.write("append", n, func() error { return AppendVectors(q.Store, keys, vecs) })
}
