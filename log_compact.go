package partd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Compaction rewrites the live bytes of the sealed segments (every segment
// but the one being written) into new segments, as base records (a key's
// whole bytes, replayed as a set), and removes the old segments. Appends,
// Gets, Sets and Deletes go on meanwhile; a key set or deleted during the
// compaction keeps its new state (the record of the change comes later in
// the log than the base record, so a replay agrees).
//
// The new segments take the last replaced segment's major number and the
// compaction's generation, so they replay where the old ones did. A marker
// file, written and renamed into place once they are synced, commits the
// compaction: on open, the outputs of a compaction without its marker are
// removed, and so are the inputs of one with it.

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

// compactKey is a key to rewrite: the runs of its bytes in the sealed
// segments, which are a prefix of its runs.
type compactKey struct {
	key  string
	ext  []logExtent
	size int64
	out  []logExtent // where the compaction wrote them
}

// Compact rewrites the live bytes of every sealed segment into new segments
// and removes the old ones, so that the space of deleted and replaced bytes
// comes back and each key's bytes lie together. It runs by itself when dead
// bytes cross LogOptions' thresholds; call it to compact now.
func (l *Log) Compact() error {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()

	// Seal the active segment, so everything there is now is in sealed
	// segments and new writes go elsewhere.
	l.writeMu.Lock()
	l.mu.RLock()
	err := l.usableLocked("compact")
	l.mu.RUnlock()
	if err == nil && l.active.size > 0 {
		err = l.startSegment()
	}
	l.writeMu.Unlock()
	if err != nil {
		return err
	}

	// What to rewrite.
	l.mu.RLock()
	var inputs []*logSegment
	for _, s := range sortedSegments(l.segs) {
		if s != l.active {
			inputs = append(inputs, s)
		}
	}
	sealed := make(map[uint32]bool, len(inputs))
	for _, s := range inputs {
		sealed[s.id] = true
	}
	var keys []*compactKey
	for key, k := range l.index {
		n := 0
		for n < len(k.ext) && sealed[k.ext[n].seg] {
			n++
		}
		if n == 0 {
			continue
		}
		ck := &compactKey{key: key, ext: slices.Clone(k.ext[:n])}
		for _, e := range ck.ext {
			ck.size += int64(e.n)
		}
		keys = append(keys, ck)
	}
	segs := make(map[uint32]*logSegment, len(inputs))
	for _, s := range inputs {
		segs[s.id] = s
	}
	gen := l.gen + 1
	l.mu.RUnlock()
	if len(inputs) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b *compactKey) int {
		return cmpExtent(a.ext[0], b.ext[0])
	})
	major := inputs[len(inputs)-1].major

	outputs, err := l.writeCompacted(keys, segs, major, gen)
	if err != nil {
		for _, o := range outputs {
			o.f.Close()
			os.Remove(filepath.Join(l.dir, o.name()))
		}
		return fmt.Errorf("partd: log: compact: %w", err)
	}

	// Commit: the marker names the last major the outputs replace.
	if err := l.writeMarker(gen, major); err != nil {
		for _, o := range outputs {
			o.f.Close()
			os.Remove(filepath.Join(l.dir, o.name()))
		}
		return fmt.Errorf("partd: log: compact: %w", err)
	}

	l.ioMu.Lock()
	defer l.ioMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range outputs {
		o.id = l.nextID
		l.nextID++
		l.segs[o.id] = o
		l.stats.Segments++
		l.bytes.Add(o.size)
	}
	for _, ck := range keys {
		k := l.index[ck.key]
		if k == nil || len(k.ext) < len(ck.ext) || !slices.Equal(k.ext[:len(ck.ext)], ck.ext) {
			continue // set or deleted meanwhile: its new state stands
		}
		for i := range ck.out {
			ck.out[i].seg = outputs[ck.out[i].seg].id
			l.segs[ck.out[i].seg].live += int64(ck.out[i].n)
		}
		k.ext = append(ck.out, k.ext[len(ck.ext):]...)
	}
	var errs []error
	for _, s := range inputs {
		errs = append(errs, l.removeSegmentLocked(s))
	}
	if l.gen > 0 {
		os.Remove(filepath.Join(l.dir, fmt.Sprintf("%s%08x", compactName, l.gen)))
	}
	l.gen = gen
	l.stats.Compactions++
	return errors.Join(errs...)
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

// writeCompacted writes the keys' bytes as base records (and, for keys
// larger than compactChunk, append records after the first) into new
// segment files of major and gen, and syncs them. Each key's out extents
// name the output by its index in the returned slice.
func (l *Log) writeCompacted(keys []*compactKey, segs map[uint32]*logSegment, major uint64, gen uint32) ([]*logSegment, error) {
	var outputs []*logSegment
	var out *logSegment
	bw := bufio.NewWriterSize(nil, 1<<20)
	var head []byte
	var batch []logItem
	var batchKeys []*compactKey
	var batchBytes int64
	var buf []byte

	flush := func(kind byte) error {
		if len(batch) == 0 {
			return nil
		}
		h, length, err := encodeRecordHead(head, kind, batch)
		if err != nil {
			return err
		}
		head = h[:0]
		if out == nil || (out.size > 0 && out.size+length > l.opts.SegmentSize) {
			if out != nil {
				if err := out.f.Sync(); err != nil {
					return err
				}
			}
			out = &logSegment{id: uint32(len(outputs)), major: major, gen: gen, part: uint32(len(outputs))}
			f, err := os.OpenFile(filepath.Join(l.dir, out.name()), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			out.f = f
			outputs = append(outputs, out)
		}
		bw.Reset(io.NewOffsetWriter(out.f, out.size))
		bw.Write(h)
		off := out.size + int64(len(h))
		for i, it := range batch {
			bw.Write(it.pieces[0])
			batchKeys[i].out = append(batchKeys[i].out, logExtent{seg: out.id, off: uint32(off), n: uint32(it.size)})
			off += it.size
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		out.size += length
		batch, batchKeys, batchBytes, buf = batch[:0], batchKeys[:0], 0, buf[:0]
		return nil
	}

	for _, ck := range keys {
		if ck.size <= compactChunk {
			if batchBytes+ck.size > compactChunk {
				if err := flush(recBase); err != nil {
					return outputs, err
				}
			}
			start := len(buf)
			buf = slices.Grow(buf, int(ck.size))[:start+int(ck.size)]
			if err := readKeyRange(ck.ext, segs, 0, buf[start:]); err != nil {
				return outputs, err
			}
			batch = append(batch, logItem{key: ck.key, pieces: [][]byte{buf[start:]}, size: ck.size})
			batchKeys = append(batchKeys, ck)
			batchBytes += ck.size
			continue
		}
		// A key larger than a chunk: a base record of its first chunk, then
		// append records of the others.
		if err := flush(recBase); err != nil {
			return outputs, err
		}
		kind := recBase
		for read := int64(0); read < ck.size; {
			n := min(ck.size-read, compactChunk)
			buf = slices.Grow(buf[:0], int(n))[:n]
			if err := readKeyRange(ck.ext, segs, read, buf); err != nil {
				return outputs, err
			}
			batch = append(batch, logItem{key: ck.key, pieces: [][]byte{buf}, size: n})
			batchKeys = append(batchKeys, ck)
			if err := flush(kind); err != nil {
				return outputs, err
			}
			kind = recAppend
			read += n
		}
	}
	if err := flush(recBase); err != nil {
		return outputs, err
	}
	for _, o := range outputs {
		if err := o.f.Sync(); err != nil {
			return outputs, err
		}
	}
	return outputs, syncDir(l.dir)
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

// writeMarker commits compaction gen: a file naming the last major it
// replaces, written under a temporary name, synced and renamed into place.
func (l *Log) writeMarker(gen uint32, major uint64) error {
	name := filepath.Join(l.dir, fmt.Sprintf("%s%08x", compactName, gen))
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%016x\n", major), 0o644); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = errors.Join(f.Sync(), f.Close())
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
