package partd

import (
	"fmt"
	"io"
)

var _ KeyReader = (*Log)(nil)

// OpenKey returns a reader of key's bytes (see KeyReader) that reads them
// from the segments straight into each Read's buffer with pread, one run
// of the key (the bytes of one append, or of neighbouring ones) at a time,
// holding no buffer of its own. (It does not copy from the segments'
// mappings, as Get does for short runs: a key of many small appends costs
// a system call per run, so read it with buffers of a few MiB.)
//
// It reads as many bytes as the key held when OpenKey returned: appends
// after that are not read. Compaction may move the key's bytes between
// Reads; the reader finds them where the index says they are at each Read.
// A Delete, Set, Pop or Drop of the key (or the Log's Close) before the
// reader reaches the end makes Read fail with an error wrapping
// ErrKeyChanged (ErrClosed): the space of those bytes may be reused.
func (l *Log) OpenKey(key string) (io.ReadCloser, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usableLocked("read"); err != nil {
		return nil, err
	}
	k := l.index[key]
	if k == nil {
		return &keyStream{key: key}, nil
	}
	lr := &logReader{l: l, k: k, key: key, size: k.size}
	return &keyStream{key: key, size: k.size, readAt: lr.readAt}, nil
}

// logReader reads the bytes of one key of the index, k, at any offset
// below the size it had when it was opened.
type logReader struct {
	l    *Log
	k    *logKey
	key  string
	size int64 // the key's size when it was opened
	// A cursor into k.ext: the run at index run starts at byte runStart of
	// the key. It holds while k.ext is the slice it was found in (at) and
	// is looked for again from the first run otherwise (compaction
	// replaces a key's runs with a new slice; an append that grows it
	// moves it).
	at       *logExtent
	run      int
	runStart int64
	reads    []logPread // scratch of readAt
}

// logPread is one pread of a logReader's Read: p[at:to] from s at off.
type logPread struct {
	s      *logSegment
	off    int64
	at, to int
}

// readAt fills p with the key's bytes at off.
func (r *logReader) readAt(p []byte, off int64) error {
	l := r.l
	l.ioMu.RLock() // no segment is closed or removed while this holds
	defer l.ioMu.RUnlock()
	reads := r.reads[:0]
	l.mu.RLock()
	if err := l.usableLocked("read"); err != nil {
		l.mu.RUnlock()
		return err
	}
	k := l.index[r.key]
	if k != r.k {
		l.mu.RUnlock()
		return errKeyChanged(r.key, off, r.size, "deleted or replaced")
	}
	if len(k.ext) == 0 || &k.ext[0] != r.at || r.runStart > off {
		r.at, r.run, r.runStart = nil, 0, 0
		if len(k.ext) > 0 {
			r.at = &k.ext[0]
		}
	}
	for r.run < len(k.ext) && r.runStart+int64(k.ext[r.run].n) <= off {
		r.runStart += int64(k.ext[r.run].n)
		r.run++
	}
	pos := 0
	for i, start := r.run, r.runStart; pos < len(p) && i < len(k.ext); i++ {
		e := k.ext[i]
		s := l.segs[e.seg]
		if s == nil {
			l.mu.RUnlock()
			return fmt.Errorf("partd: log: read %q: the index names a segment it does not have: %w", r.key, ErrCorrupt)
		}
		skip := max(off+int64(pos)-start, 0)
		n := int(min(int64(e.n)-skip, int64(len(p)-pos)))
		reads = append(reads, logPread{s: s, off: int64(e.off) + skip, at: pos, to: pos + n})
		pos += n
		start += int64(e.n)
	}
	l.mu.RUnlock()
	r.reads = reads[:0]
	if pos < len(p) {
		return errKeyChanged(r.key, off+int64(pos), r.size, "its index holds fewer bytes") // cannot happen
	}
	for _, rd := range reads {
		if err := readAt(rd.s, p[rd.at:rd.to], rd.off); err != nil {
			return fmt.Errorf("partd: log: read %q: %w", r.key, err)
		}
	}
	clear(reads) // the scratch keeps no segment
	return nil
}
