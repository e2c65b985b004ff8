package partd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gopartd/partd/internal/osfile"
)

// Recovery: what an open does with a record that is not whole and valid.
//
// Only one kind of damage is a crash's doing: the tail of the newest
// segment cut short (or garbled) while its last record was being written.
// No valid record follows it, since a Log writes one segment, in order. That
// torn tail is cut off on open, counted in LogStats and logged: the batch it
// held never returned.
//
// Anything else (a bad record with valid ones after it, a bad record in a
// sealed segment, a segment too large for the index) is damage the Log did
// not do. A plain open fails with ErrCorrupt, naming the segment and the
// offset, and changes nothing. RepairLog is the explicit act: it drops each
// damaged span and every key a dropped record touched (a key missing one of
// its appends must not come back shorter), and reports both.

// LogDamage is a span of a segment that RepairLog dropped.
type LogDamage struct {
	Segment string // the segment file's name
	Offset  int64  // where the damaged bytes start
	Length  int64  // how many bytes were dropped
	Why     string // what was wrong with the record at Offset
	// Keys are the keys of the damaged record, where its checksum could
	// vouch for them (the damage is one flipped bit, which the checksum
	// locates). KeysUnknown is set where it could not: every key the record
	// might have touched was dropped instead (every key held before it, and
	// any key first appended after it).
	Keys        []string
	KeysUnknown bool
}

// LogRepair reports what RepairLog dropped, or would drop in a dry run.
type LogRepair struct {
	Damage []LogDamage
	// DroppedKeys are the keys removed because a damaged record touched
	// them (their bytes would be incomplete or stale), sorted.
	DroppedKeys []string
	// TornBytes is what was cut off the newest segment's torn tail, which
	// any open cuts.
	TornBytes int64
}

// Repair modes of an open.
const (
	openPlain = iota
	openRepair
	openCheck // RepairLog's dry run: find everything, change nothing
)

// RepairLog opens the Log in dir, drops its damaged records and the keys
// they touched, and reports what it dropped; the Log is closed again. With
// dryRun it changes nothing and reports what a repair would drop. A Log
// without damage is left as it is (but for a torn tail, which any open cuts)
// and reported with no Damage.
func RepairLog(dir string, dryRun bool, opts *LogOptions) (LogRepair, error) {
	o := LogOptions{}
	if opts != nil {
		o = *opts
	}
	o.NoCreate = true
	o.CompactGarbage = -1
	mode := openRepair
	if dryRun {
		mode = openCheck
	}
	l, err := openLog(dir, &o, mode)
	if err != nil {
		return LogRepair{}, err
	}
	rep := l.repair
	rep.TornBytes = l.stats.TornBytes
	return rep, l.Close()
}

// recovery is what an open in repair mode learns while it replays.
type recovery struct {
	tainted map[string]bool // keys a dropped record touched, unless a later record reset them
	clean   map[string]bool // keys reset (set, deleted) after a drop whose keys are unknown
	unknown bool            // a dropped record's keys are unknown: fresh appends are suspect
	damaged map[string][]LogDamage
}

// damaged reports damage at p in s. In a plain open that is the error of
// the open; in repair mode the span [p, end) is recorded as dropped and the
// keys it touched tainted.
func (l *Log) damaged(s *logSegment, p, end int64, why error) error {
	if l.mode == openPlain {
		return fmt.Errorf("partd: log %s: segment %s is damaged at byte %d (%v), and it is not a torn tail (valid records follow it, or the segment is sealed): %w; nothing was changed. "+
			"`partd repair --store log://%s` (partd.RepairLog) drops the damaged records and the keys they touched, and reports them",
			l.dir, s.name(), p, tornWhy(why), ErrCorrupt, l.dir)
	}
	d := LogDamage{Segment: s.name(), Offset: p, Length: end - p, Why: tornWhy(why)}
	keys, known := l.damagedKeys(s, p, end)
	rc := &l.rec
	if rc.tainted == nil {
		rc.tainted, rc.clean, rc.damaged = map[string]bool{}, map[string]bool{}, map[string][]LogDamage{}
	}
	if known {
		d.Keys = keys
		for _, k := range keys {
			rc.tainted[k] = true
		}
	} else {
		d.KeysUnknown = true
		rc.unknown = true
		clear(rc.clean)
		for k := range l.index {
			rc.tainted[k] = true
		}
	}
	rc.damaged[s.name()] = append(rc.damaged[s.name()], d)
	l.repair.Damage = append(l.repair.Damage, d)
	l.log.Warn("partd: log: dropping a damaged span", "dir", l.dir, "segment", s.name(), "offset", p, "bytes", end-p, "why", d.Why)
	return nil
}

// tornWhy is what the record reader found wrong, without errTorn's words.
func tornWhy(err error) string { return strings.TrimPrefix(err.Error(), errTorn.Error()+": ") }

// track keeps the taint of a repair up to date with a record replayed after
// the damage: a set, base or delete resets a key, a drop every key.
func (rc *recovery) track(kind byte, entries []recordEntry, held func(string) bool) {
	if rc.tainted == nil {
		return
	}
	switch kind {
	case recDrop:
		clear(rc.tainted)
		clear(rc.clean)
		rc.unknown = false
	case recDelete, recSet, recBase:
		for _, e := range entries {
			delete(rc.tainted, e.key)
			if rc.unknown {
				rc.clean[e.key] = true
			}
		}
	case recAppend:
		if !rc.unknown {
			return
		}
		for _, e := range entries {
			if !held(e.key) && !rc.clean[e.key] {
				rc.tainted[e.key] = true // its first appends may be what was lost
			}
		}
	}
}

// damagedKeys finds the keys of the damaged record at p, whose bytes run
// to end. A record's table cannot be taken at its word (the damage may be in
// a key's name), so it is read only where the checksum can vouch for it:
// when the damage is one flipped bit, which CRC-32C locates, and the record
// with that bit flipped back is whole. Anything else reports unknown keys.
func (l *Log) damagedKeys(s *logSegment, p, end int64) ([]string, bool) {
	const maxSpan = 64 << 20 // larger spans: unknown keys, rather than that much memory
	if end-p < recHeaderLen+1 || end-p > maxSpan {
		return nil, false
	}
	b := make([]byte, end-p)
	if _, err := s.f.ReadAt(b, p); err != nil {
		return nil, false
	}
	length := int64(binary.LittleEndian.Uint32(b[4:]))
	if recHeaderLen+length != end-p || !correctOneBit(b) {
		return nil, false
	}
	kind := b[8]
	if kind < recAppend || kind > recBase {
		return nil, false
	}
	if kind == recDrop {
		return nil, true
	}
	return parseTable(b[recHeaderLen:], length, true)
}

// correctOneBit flips back the one bit of record b (header and payload)
// whose flip explains its checksum mismatch, and reports whether there was
// one. A CRC is linear: the difference between the stored and the computed
// checksum is the checksum (from a zero register) of the error alone, and
// for a single flipped bit that is the bit's own pattern pushed through the
// zero bytes after it, distinct for every bit of a record (CRC-32C's
// Hamming distance is at least 3 at any length a segment holds).
func correctOneBit(b []byte) bool {
	stored := binary.LittleEndian.Uint32(b)
	data := b[4:]
	syndrome := crc32.Update(0, castagnoli, data) ^ stored
	if syndrome == 0 {
		return true // whole after all
	}
	var reg [8]uint32 // reg[j]: a flip of bit j of data[i], carried to the end
	for j := range reg {
		reg[j] = castagnoli[1<<j]
	}
	found, at, bit := 0, 0, 0
	for i := len(data) - 1; i >= 0; i-- {
		for j := range reg {
			if reg[j] == syndrome {
				found, at, bit = found+1, i, j
			}
			reg[j] = castagnoli[byte(reg[j])] ^ reg[j]>>8
		}
	}
	switch {
	case found == 1:
		data[at] ^= 1 << bit
		return crc32.Update(0, castagnoli, data) == stored
	case found == 0 && bits.OnesCount32(syndrome) == 1:
		return true // the flipped bit is in the stored checksum: the rest is whole
	}
	return false
}

// parseTable parses a record's key table from b, the first bytes of its
// payload of length bytes, and reports whether it is consistent: its keys
// and values fill the payload exactly. With wantKeys it returns the keys,
// and a table that runs past b is not consistent; without, it returns no
// keys and takes a table that runs past b as consistent so far.
func parseTable(b []byte, length int64, wantKeys bool) ([]string, bool) {
	avail := int64(len(b))
	count, m := binary.Uvarint(b)
	if m <= 0 {
		return nil, m == 0 && avail < int64(binary.MaxVarintLen64) && !wantKeys
	}
	if count > uint64(length) {
		return nil, false
	}
	pos, values := int64(m), int64(0)
	var keys []string
	for range count {
		klen, m := binary.Uvarint(b[min(pos, avail):])
		if m <= 0 {
			return nil, m == 0 && !wantKeys
		}
		pos += int64(m)
		if klen == 0 || klen > MaxKeyLen || pos+int64(klen) > length {
			return nil, false
		}
		if pos+int64(klen) > avail {
			return nil, !wantKeys
		}
		if wantKeys {
			keys = append(keys, string(b[pos:pos+int64(klen)]))
		}
		pos += int64(klen)
		vlen, m := binary.Uvarint(b[min(pos, avail):])
		if m <= 0 {
			return nil, m == 0 && !wantKeys
		}
		pos += int64(m)
		if vlen > uint64(length) {
			return nil, false
		}
		values += int64(vlen)
		if pos+values > length {
			return nil, false
		}
	}
	return keys, pos+values == length
}

// resync finds the first offset in (p, end) of s from which valid records
// follow each other to end: where the undamaged records after damage at p
// resume. Offsets are tried one by one, each first checked in memory
// (kind, length, key table); a record that user data happens to hold
// inside a torn tail seldom chains to the segment's end.
func (l *Log) resync(s *logSegment, p, end int64) (int64, bool, error) {
	const window = 4 << 20
	const ahead = 1 << 16 // bytes of a candidate's table checked in memory
	buf := make([]byte, window+ahead)
	for base := p + 1; base < end; base += window {
		n := min(int64(len(buf)), end-base)
		b := buf[:n]
		if _, err := s.f.ReadAt(b, base); err != nil && !errors.Is(err, io.EOF) {
			return 0, false, err
		}
		for i := int64(0); i < min(window, n); i++ {
			q := base + i
			if end-q < recHeaderLen+1 || i+recHeaderLen > n {
				break
			}
			kind := b[i+8]
			length := int64(binary.LittleEndian.Uint32(b[i+4:]))
			if kind < recAppend || kind > recBase || length < 1 || recHeaderLen+length > end-q {
				continue
			}
			payload := b[i+recHeaderLen : min(n, i+recHeaderLen+length)]
			if _, ok := parseTable(payload, length, false); !ok {
				continue
			}
			if ok, err := l.chainValid(s, q, end); err != nil {
				return 0, false, err
			} else if ok {
				return q, true, nil
			}
		}
	}
	return 0, false, nil
}

// chainValid tells whether whole, valid records run from q to end in s.
func (l *Log) chainValid(s *logSegment, q, end int64) (bool, error) {
	if l.scanner == nil {
		l.scanner = newRecordReader(nil)
	}
	rr := l.scanner
	rr.reset(io.NewSectionReader(s.f, q, end-q))
	for {
		_, _, _, err := rr.next()
		switch {
		case err == io.EOF:
			return true, nil
		case errors.Is(err, errTorn):
			return false, nil
		case err != nil:
			return false, err
		}
	}
}

// finishRepair makes a repair's findings durable: the keys the damage
// tainted are deleted (one delete record, synced), then each damaged
// segment is rewritten without its damaged spans. The Log is then replayed
// afresh by the caller.
func (l *Log) finishRepair() error {
	rc := &l.rec
	var drop []logItem
	for k := range rc.tainted {
		if _, ok := l.index[k]; ok {
			drop = append(drop, logItem{key: k})
			l.repair.DroppedKeys = append(l.repair.DroppedKeys, k)
		}
	}
	slices.Sort(l.repair.DroppedKeys)
	slices.SortFunc(drop, func(a, b logItem) int { return strings.Compare(a.key, b.key) })
	if l.mode == openCheck || len(rc.damaged) == 0 {
		return nil
	}
	if len(drop) > 0 {
		if _, _, err := l.writeRecord(recDelete, drop); err != nil {
			return err
		}
		if err := l.fs.SyncFile(l.active.f); err != nil {
			return fmt.Errorf("partd: log: %w", err)
		}
	}
	for _, s := range l.segs {
		spans := rc.damaged[s.name()]
		if len(spans) == 0 {
			continue
		}
		if err := l.rewriteWithout(s, spans); err != nil {
			return fmt.Errorf("partd: log: repairing %s: %w", s.name(), err)
		}
	}
	return osfile.SyncDir(l.dir)
}

// rewriteWithout replaces s's file with a copy that leaves out spans,
// through a synced temporary file renamed over it.
func (l *Log) rewriteWithout(s *logSegment, spans []LogDamage) error {
	st, err := s.f.Stat()
	if err != nil {
		return err
	}
	path := filepath.Join(l.dir, s.name())
	tmp := path + ".tmp"
	os.Remove(tmp)
	out, err := osfile.OpenNoFollow(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	var pos int64
	for _, d := range append(spans, LogDamage{Offset: st.Size()}) {
		if d.Offset > pos {
			if _, err := io.Copy(out, io.NewSectionReader(s.f, pos, d.Offset-pos)); err != nil {
				out.Close()
				os.Remove(tmp)
				return err
			}
		}
		pos = d.Offset + d.Length
	}
	if err := errors.Join(out.Sync(), out.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
