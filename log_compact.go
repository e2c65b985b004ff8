package partd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gopartd/partd/internal/osfile"
)

// Compaction rewrites the sealed segments (every segment but the one being
// written) that hold dead bytes, oldest first and one at a time: each into
// a new file holding only its live bytes, which replaces it. So it needs
// free space for one segment's live bytes at a time, whatever the Log's
// size. Appends, Gets, Sets and Deletes go on meanwhile.
//
// The new file takes the old one's major number and part and a newer
// generation; it is written under a temporary name, synced and renamed into
// place, and only then is the old file removed. On open, of two files with
// one major and part the newer generation wins, and a temporary file is
// removed: a crash at any moment leaves one of the two whole.
//
// A key's bytes in a rewritten segment go as a base record (replayed as a
// set) if they are its first live bytes, else as an append record. Set,
// delete and drop records are left out: they only ever kill bytes written
// before them, and every older segment is rewritten before (or has no dead
// bytes), so nothing they killed is left to come back. A key set or deleted
// during the compaction keeps its new state: the record of the change lies
// later in the log than anything the compaction writes.

// compactChunk bounds a base record's values, so compaction holds little
// memory whatever the keys' sizes.
const compactChunk = 4 << 20

// maybeCompact starts a compaction in the background if dead bytes cross
// the thresholds of LogOptions. l.writeMu may be held.
func (l *Log) maybeCompact() {
	if l.opts.CompactGarbage < 0 {
		return
	}
	l.mu.RLock()
	total := l.bytes.Load()
	dead := total - l.stats.LiveBytes
	due := !l.closed && dead >= l.opts.CompactMinBytes && float64(dead) >= l.opts.CompactGarbage*float64(total)
	l.mu.RUnlock()
	if !due || !l.compacting.CompareAndSwap(false, true) {
		return
	}
	l.compactWG.Add(1)
	go func() {
		defer l.compactWG.Done()
		defer l.compacting.Store(false)
		if err := l.Compact(); err != nil && !errors.Is(err, ErrClosed) {
			l.log.Error("partd: log: compaction failed; the log keeps working without it", "dir", l.dir, "err", err)
		}
	}()
}

// movedKey is a key whose runs in a segment being rewritten move to its
// replacement.
type movedKey struct {
	key   string
	runs  []logExtent // its runs in the old segment
	first bool        // they are its first live bytes
	size  int64
	out   []logExtent // where they went in the replacement
}

// Compact rewrites every sealed segment that holds dead bytes, one at a
// time, so that the space of deleted and replaced bytes comes back and each
// key's bytes in a segment lie together. It runs by itself when dead bytes
// cross LogOptions' thresholds; call it to compact now.
func (l *Log) Compact() error {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	active, err := l.sealActive()
	if err != nil {
		return err
	}
	inputs, keysIn, gen := l.planCompaction(active)
	for _, s := range inputs {
		if l.closing.Load() {
			break // Close is waiting; what is done is done whole
		}
		l.mu.RLock()
		clean := s.live > 0 && s.live == s.values
		l.mu.RUnlock()
		if clean {
			continue // every byte of it is live: it stays as it is
		}
		if err := l.replaceSegment(s, keysIn[s.id], gen); err != nil {
			return fmt.Errorf("partd: log: compact %s: %w", s.name(), err)
		}
	}
	l.mu.Lock()
	l.gen = gen
	l.stats.Compactions++
	l.mu.Unlock()
	return nil
}

// sealActive starts a new active segment unless the active one is empty,
// so that everything written so far is in sealed segments and new writes
// go elsewhere, and returns the active segment. l.compactMu is held.
func (l *Log) sealActive() (*logSegment, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.RLock()
	err := l.usableLocked("compact")
	l.mu.RUnlock()
	if err == nil && l.active.size > 0 {
		err = l.startSegment()
	}
	return l.active, err
}

// planCompaction returns the sealed segments (those begun before active),
// oldest first, the keys with bytes in each, and the generation of the
// compaction's outputs. Writers may have filled active and begun others
// since sealActive returned: those are being written and are never inputs.
// l.compactMu is held.
func (l *Log) planCompaction(active *logSegment) (inputs []*logSegment, keysIn map[uint32][]string, gen uint32) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range sortedSegments(l.segs) {
		if s.major < active.major {
			inputs = append(inputs, s)
		}
	}
	keysIn = make(map[uint32][]string, len(inputs))
	for key, k := range l.index {
		last := active.id
		for _, e := range k.ext {
			if e.seg != last && e.seg != active.id {
				keysIn[e.seg] = append(keysIn[e.seg], key)
			}
			last = e.seg
		}
	}
	return inputs, keysIn, l.gen + 1
}

// replaceSegment rewrites s's live bytes (of keys, the keys with bytes in
// it) into a new file of generation gen that replaces it, or removes it if
// nothing in it is live.
func (l *Log) replaceSegment(s *logSegment, keys []string, gen uint32) error {
	moved := l.movedKeys(s, keys)
	out, werr := l.writeReplacement(s, moved, gen)
	if werr != nil && out == nil {
		return werr
	}
	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commitReplacementLocked(s, out, moved)
	return errors.Join(werr, l.removeSegmentLocked(s))
}

// movedKeys returns the keys of keys whose runs in s move to its
// replacement: base records first (they cannot share a record with
// appends), each kind in the order of the bytes in s.
func (l *Log) movedKeys(s *logSegment, keys []string) []*movedKey {
	l.mu.RLock()
	var moved []*movedKey
	for _, key := range keys {
		k := l.index[key]
		if k == nil {
			continue
		}
		i := slices.IndexFunc(k.ext, func(e logExtent) bool { return e.seg == s.id })
		if i < 0 {
			continue
		}
		j := i
		for j < len(k.ext) && k.ext[j].seg == s.id {
			j++
		}
		m := &movedKey{key: key, runs: slices.Clone(k.ext[i:j]), first: i == 0}
		for _, e := range m.runs {
			m.size += int64(e.n)
		}
		moved = append(moved, m)
	}
	l.mu.RUnlock()
	slices.SortFunc(moved, func(a, b *movedKey) int {
		if a.first != b.first {
			if a.first {
				return -1
			}
			return 1
		}
		return cmpExtent(a.runs[0], b.runs[0])
	})
	return moved
}

// commitReplacementLocked adds out (nil if nothing moved) to the segments
// and points the index at it for every moved key that was not set or
// deleted meanwhile. l.ioMu and l.mu are held for writing.
func (l *Log) commitReplacementLocked(s, out *logSegment, moved []*movedKey) {
	if out != nil {
		out.id = l.nextID
		l.nextID++
		l.segs[out.id] = out
		l.stats.Segments++
		l.bytes.Add(out.size)
		l.mapLocked(out, out.size) // written whole: sealed
	}
	for _, m := range moved {
		k := l.index[m.key]
		if k == nil {
			continue
		}
		i := slices.IndexFunc(k.ext, func(e logExtent) bool { return e.seg == s.id })
		if i < 0 || i+len(m.runs) > len(k.ext) || !slices.Equal(k.ext[i:i+len(m.runs)], m.runs) {
			continue // set or deleted meanwhile: its new state stands
		}
		for o := range m.out {
			m.out[o].seg = out.id
			out.live += int64(m.out[o].n)
		}
		k.ext = slices.Concat(k.ext[:i], m.out, k.ext[i+len(m.runs):])
	}
}

// writeReplacement writes the moved keys' bytes from s into a new segment
// file of s's major and part and generation gen, syncs it and renames it
// into place. Each key's out extents are set, their segment left 0. It
// returns nil if there is nothing to write.
func (l *Log) writeReplacement(s *logSegment, moved []*movedKey, gen uint32) (*logSegment, error) {
	if len(moved) == 0 {
		return nil, nil
	}
	out := &logSegment{major: s.major, gen: gen, part: s.part}
	path := filepath.Join(l.dir, out.name())
	tmp := path + tmpSuffix
	os.Remove(tmp) // of an earlier try that failed
	f, err := osfile.OpenNoFollow(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	out.f = f
	if err = l.fillReplacement(out, s, moved); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := osfile.SyncDir(l.dir); err != nil {
		return out, err // in place: the index follows it whatever the error
	}
	return out, nil
}

// fillReplacement writes the moved keys' bytes from s into out's file as
// records, and syncs it.
func (l *Log) fillReplacement(out, s *logSegment, moved []*movedKey) error {
	w := &replacementWriter{
		bw:   bufio.NewWriterSize(osfile.OffsetWriter(l.fs, out.f, 0), 1<<20),
		out:  out,
		from: map[uint32]*logSegment{s.id: s},
	}
	for _, m := range moved {
		if err := w.add(m); err != nil {
			return err
		}
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return l.fs.SyncFile(out.f)
}

// replacementWriter writes the records of a segment's replacement: the
// moved bytes of each key, read from the old segment in chunks of at most
// compactChunk, batched into base and append records of at most
// compactChunk bytes of values.
type replacementWriter struct {
	bw         *bufio.Writer
	out        *logSegment
	from       map[uint32]*logSegment // the old segment, by id
	head       []byte                 // scratch for record heads
	kind       byte                   // of the batch
	batch      []logItem
	owners     []*movedKey // of each item of the batch
	batchBytes int64
	buf        []byte // the batch's values
}

// add batches m's bytes: the first chunk as a base record if they are the
// key's first live bytes, the rest as appends.
func (w *replacementWriter) add(m *movedKey) error {
	kind := recAppend
	if m.first {
		kind = recBase
	}
	for read := int64(0); read < m.size; {
		n := min(m.size-read, compactChunk)
		if len(w.batch) > 0 && (kind != w.kind || w.batchBytes+n > compactChunk) {
			if err := w.flush(); err != nil {
				return err
			}
		}
		w.kind = kind
		start := len(w.buf)
		w.buf = slices.Grow(w.buf, int(n))[:start+int(n)] // pieces before keep the old array
		if err := readKeyRange(m.runs, w.from, read, w.buf[start:]); err != nil {
			return err
		}
		w.batch = append(w.batch, logItem{key: m.key, pieces: [][]byte{w.buf[start:]}, size: n})
		w.owners = append(w.owners, m)
		w.batchBytes += n
		w.out.values += n
		kind = recAppend
		read += n
	}
	return nil
}

// flush writes the batch as one record and sets where each item's bytes
// went in its owner's out extents (their segment left 0).
func (w *replacementWriter) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	h, length, err := encodeRecordHead(w.head, w.kind, w.batch)
	if err != nil {
		return err
	}
	w.head = h[:0]
	w.bw.Write(h)
	off := w.out.size + int64(len(h))
	for i, it := range w.batch {
		w.bw.Write(it.pieces[0])
		w.owners[i].out = append(w.owners[i].out, logExtent{off: uint32(off), n: uint32(it.size)})
		off += it.size
	}
	w.out.size += length
	w.batch, w.owners, w.batchBytes, w.buf = w.batch[:0], w.owners[:0], 0, w.buf[:0]
	return nil
}

func cmpExtent(a, b logExtent) int {
	switch {
	case a.seg != b.seg:
		return int(a.seg) - int(b.seg)
	case a.off < b.off:
		return -1
	case a.off > b.off:
		return 1
	}
	return 0
}

// readKeyRange reads the bytes of a key from offset from (within the key)
// into b, from its runs ext.
func readKeyRange(ext []logExtent, segs map[uint32]*logSegment, from int64, b []byte) error {
	var pos int64
	for _, e := range ext {
		end := pos + int64(e.n)
		if end > from && len(b) > 0 {
			skip := max(from-pos, 0)
			n := min(int64(e.n)-skip, int64(len(b)))
			if err := readAt(segs[e.seg], b[:n], int64(e.off)+skip); err != nil {
				return err
			}
			b, from = b[n:], from+n
		}
		pos = end
	}
	return nil
}
