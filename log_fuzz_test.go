package partd_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// FuzzLogOpen damages the segment files of a real Log with the fuzzer's
// bytes and opens it. Whatever the bytes, nothing panics and the open does
// what a model replay of the damaged files says: where the only damage is
// a torn tail of the newest segment (a bad record that no valid records
// follow), the open cuts it off, counts it and holds exactly the records
// before it; where there is any other damage, the open fails with
// ErrCorrupt and changes no file. Then RepairLog's dry run changes nothing,
// and RepairLog leaves a Log that opens, whose every key holds what the
// undamaged records say, and that drops only keys it reports. Every key is
// valid, and the log goes on: an Append, a compaction and a reopen keep
// everything, with nothing torn.
//
// mode&3 picks the damage: 0 overwrites the newest segment with data, 1
// appends data to it, 2 writes data as a new segment after it, 3 overwrites
// the oldest segment. mode&4 also makes the Log one of version 1 with a
// compaction marker of generation gen holding marker. mode&8 compacts the
// log once it went on, and reopens it again. fixChecksums gives every
// record of data that fits a good checksum, so the fuzzer reaches what lies
// behind it.
func FuzzLogOpen(f *testing.F) {
	base, want := buildFuzzLog(f)
	segs := segmentNames(base)
	newest, oldest := base[segs[len(segs)-1]], base[segs[0]]
	if len(segs) < 3 {
		f.Fatalf("the base log has %d segments, want several", len(segs))
	}
	if len(want) == 0 {
		f.Fatal("the base log is empty")
	}
	var all []byte
	for _, s := range segs {
		all = append(all, base[s]...)
	}
	datas := [][]byte{
		nil,
		[]byte("not a record at all"),
		newest,
		oldest,
		all,
		newest[:len(newest)-1],
		newest[:9],
		newest[:5],
		append(slices.Clone(oldest), "trailing garbage"...),
		[]byte("\x00\x00\x00\x00\xff\xff\xff\xff\x01\xf0\xff\xff\xff\x0f"), // a key count of 4G
	}
	flipped := slices.Clone(all)
	flipped[len(oldest)+12] ^= 0x10
	datas = append(datas, flipped)
	for mode := range uint8(4) {
		for _, d := range datas {
			f.Add(mode, false, d, uint32(0), []byte(nil))
		}
		f.Add(mode|8, false, all, uint32(0), []byte(nil))
		f.Add(mode|8, true, flipped, uint32(0), []byte(nil))
		f.Add(mode|4|8, false, oldest, uint32(2), []byte("0000000000000001\n"))
		f.Add(mode, true, flipped, uint32(0), []byte(nil))
		// Records behind good checksums: a set of "k"; an append to "a/x",
		// under the stored "a"; a delete of "a"; a drop; an append to "a".
		f.Add(mode, true, []byte("\x00\x00\x00\x00\x10\x00\x00\x00\x02\x01\x01k\x0c"+strings.Repeat("\x00", 12)), uint32(0), []byte(nil))
		forged := []byte("\x00\x00\x00\x00\x07\x00\x00\x00\x01\x01\x03a/x\x01v" +
			"\x00\x00\x00\x00\x04\x00\x00\x00\x03\x01\x01a\x00" +
			"\x00\x00\x00\x00\x01\x00\x00\x00\x04\x00" +
			"\x00\x00\x00\x00\x05\x00\x00\x00\x01\x01\x01a\x01w")
		f.Add(mode, true, forged, uint32(0), []byte(nil))
		f.Add(mode|8, true, forged[:17], uint32(0), []byte(nil))
		f.Add(mode|4|8, false, oldest, ^uint32(0), []byte("0000000000000001"))
		f.Add(mode|4, false, newest, uint32(1), []byte("0000000000000000\n"))
		f.Add(mode|4, false, []byte("junk"), uint32(2), []byte(fmt.Sprintf("%016x\n", len(segs))))
		f.Add(mode|4, false, []byte{}, uint32(7), []byte("ffffffffffffffff\n"))
		f.Add(mode|4, false, oldest, ^uint32(0), []byte("0000000000000001"))
		f.Add(mode|4, false, all, uint32(3), []byte("not hex"))
	}
	f.Fuzz(func(t *testing.T, mode uint8, fixChecksums bool, data []byte, gen uint32, marker []byte) {
		if fixChecksums {
			data = partd.FixRecordChecksums(data)
		}
		dir := t.TempDir()
		for name, b := range base {
			must(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
		}
		var damaged string // the segment the data went into
		switch mode & 3 {
		case 0:
			damaged = segs[len(segs)-1]
			must(t, os.WriteFile(filepath.Join(dir, damaged), data, 0o644))
		case 1:
			damaged = segs[len(segs)-1]
			must(t, os.WriteFile(filepath.Join(dir, damaged), append(slices.Clone(newest), data...), 0o644))
		case 2:
			major, _, _, _ := parseSegName(segs[len(segs)-1])
			damaged = fmt.Sprintf("%016x-%08x-%04x.seg", major+1, 0, 0)
			must(t, os.WriteFile(filepath.Join(dir, damaged), data, 0o644))
		case 3:
			damaged = segs[0]
			must(t, os.WriteFile(filepath.Join(dir, damaged), data, 0o644))
		}
		if mode&4 != 0 {
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("compacted-%08x", gen)), marker, 0o644))
			must(t, os.WriteFile(filepath.Join(dir, ".partd-log"), []byte("partd log 1\n"), 0o644))
		}

		// What the open must find, from the files as they are now.
		m := modelReplay(t, dir)
		if m.badMarker {
			before := readDirFiles(t, dir)
			if _, err := partd.OpenLog(dir, fuzzLogOptions()); !errors.Is(err, partd.ErrCorrupt) {
				t.Fatalf("open with a damaged marker: %v, want ErrCorrupt", err)
			}
			if after := readDirFiles(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
				t.Fatal("an open that failed on a damaged marker changed the directory")
			}
			return
		}
		if m.corrupt {
			m = checkRepair(t, dir, m)
		}
		l, err := partd.OpenLog(dir, fuzzLogOptions())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		checkFuzzLog(t, l, m.state)
		st := l.Stats()
		if st.TornRecords != m.torn || st.TornBytes != m.tornBytes || st.Bytes != m.bytes || st.Keys != len(m.state) || st.LiveBytes != m.live {
			t.Fatalf("stats %+v; want %d torn records of %d bytes, %d bytes, %d keys, %d live bytes", st, m.torn, m.tornBytes, m.bytes, len(m.state), m.live)
		}
		// Whatever the data, what was written before it stays: appended
		// data or a new segment whose records are all torn leaves the log as
		// it was, and what it holds past that came from records of data.
		if mode&4 == 0 && (mode&3 == 1 || mode&3 == 2) && !m.repaired {
			before := int64(0) // bytes of the damaged segment before the data
			if mode&3 == 1 {
				before = int64(len(newest))
			}
			if m.validIn[damaged] < before {
				t.Fatalf("appending to the newest segment cut into what was there: %d valid bytes of %d", m.validIn[damaged], before)
			}
			if m.validIn[damaged] == before && !maps.EqualFunc(m.state, want, bytes.Equal) {
				t.Fatalf("the data holds no whole record, yet the log changed: %d keys, want %d", len(m.state), len(want))
			}
		}

		// The log goes on: an append, a compaction, a reopen.
		key := "after"
		for i := 0; hasKeyUnder(m.state, key); i++ {
			key = fmt.Sprintf("after%d", i)
		}
		must(t, l.Append(map[string][]byte{key: []byte("+appended")}))
		m.state[key] = append(m.state[key], "+appended"...)
		checkFuzzLog(t, l, m.state)
		must(t, l.Close())
		l = reopenFuzzLog(t, dir, m.state)
		if mode&8 != 0 {
			must(t, l.Compact())
			checkFuzzLog(t, l, m.state)
			must(t, l.Close())
			l = reopenFuzzLog(t, dir, m.state)
		}
		must(t, l.Close())
	})
}

func fuzzLogOptions() *partd.LogOptions {
	return &partd.LogOptions{SegmentSize: 128, CompactGarbage: -1, Logger: quietLog}
}

// buildFuzzLog writes a Log of several segments and returns its files and
// what it holds.
func buildFuzzLog(tb testing.TB) (map[string][]byte, map[string][]byte) {
	dir := tb.TempDir()
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	must(tb, err)
	want := map[string][]byte{}
	appendAll := func(batch map[string][]byte) {
		tb.Helper()
		must(tb, l.Append(batch))
		for k, v := range batch {
			want[k] = append(want[k], v...)
		}
	}
	appendAll(map[string][]byte{"a": []byte("first"), "b/c": []byte("one"), "df/0": bytes.Repeat([]byte{0}, 100)})
	appendAll(map[string][]byte{"a": []byte("-second")})
	must(tb, l.Set("b/c", []byte("set")))
	want["b/c"] = []byte("set")
	appendAll(map[string][]byte{"gone": []byte("x"), "df/1": bytes.Repeat([]byte{1}, 150)})
	must(tb, l.Delete("gone"))
	delete(want, "gone")
	appendAll(map[string][]byte{"a": []byte("-third"), "z": []byte("last"), "é/ü": []byte("\x00\xff")})
	checkFuzzLog(tb, l, want)
	must(tb, l.Close())
	files := map[string][]byte{}
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	must(tb, err)
	for _, n := range names {
		b, err := os.ReadFile(n)
		must(tb, err)
		files[filepath.Base(n)] = b
	}
	return files, want
}

func reopenFuzzLog(t *testing.T, dir string, want map[string][]byte) *partd.Log {
	t.Helper()
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if st := l.Stats(); st.TornRecords != 0 || st.TornBytes != 0 {
		l.Close()
		t.Fatalf("reopen after the log went on: %+v, want nothing torn", st)
	}
	checkFuzzLog(t, l, want)
	return l
}

// checkFuzzLog checks that l holds exactly want, and that its keys are
// valid.
func checkFuzzLog(tb testing.TB, l *partd.Log, want map[string][]byte) {
	tb.Helper()
	keys, err := l.Keys()
	must(tb, err)
	if !slices.Equal(keys, slices.Sorted(maps.Keys(want))) {
		tb.Fatalf("keys %q, want %q", keys, slices.Sorted(maps.Keys(want)))
	}
	for _, k := range keys {
		if err := partd.ValidateKey(k); err != nil {
			tb.Fatalf("Keys returned an invalid key: %v", err)
		}
	}
	vals, err := l.Get(keys...)
	must(tb, err)
	for i, k := range keys {
		if !bytes.Equal(vals[i], want[k]) {
			tb.Fatalf("key %q holds %q, want %q", k, vals[i], want[k])
		}
	}
}

// hasKeyUnder reports whether a key of state is key or a tuple key under
// it, so that appending to key could conflict or collide.
func hasKeyUnder(state map[string][]byte, key string) bool {
	for k := range state {
		if k == key || strings.HasPrefix(k, key+"/") {
			return true
		}
	}
	return false
}

// The model: the Log's format and replay as its documentation states them,
// written again here from the documentation.

type modelLog struct {
	state     map[string][]byte
	skipped   map[string][]byte // the state with damaged spans skipped
	corrupt   bool              // damage that is not a torn tail
	badMarker bool              // a damaged compaction marker of version 1
	repaired  bool              // the model of a Log after RepairLog
	torn      int
	tornBytes int64
	bytes     int64            // of whole records
	live      int64            // bytes of values in state
	validIn   map[string]int64 // each replayed segment's valid prefix
}

func parseSegName(n string) (major uint64, gen, part uint32, ok bool) {
	base, isSeg := strings.CutSuffix(n, ".seg")
	f := strings.Split(base, "-")
	if !isSeg || len(f) != 3 || len(f[0]) != 16 || len(f[1]) != 8 || len(f[2]) != 4 {
		return 0, 0, 0, false
	}
	mj, err1 := strconv.ParseUint(f[0], 16, 64)
	g, err2 := strconv.ParseUint(f[1], 16, 32)
	p, err3 := strconv.ParseUint(f[2], 16, 16)
	return mj, uint32(g), uint32(p), err1 == nil && err2 == nil && err3 == nil
}

// segmentNames returns the segment files of files, in log order: by major
// number, then part.
func segmentNames(files map[string][]byte) []string {
	var segs []string
	for n := range files {
		if _, _, _, ok := parseSegName(n); ok {
			segs = append(segs, n)
		}
	}
	slices.SortFunc(segs, func(a, b string) int {
		ma, ga, pa, _ := parseSegName(a)
		mb, gb, pb, _ := parseSegName(b)
		return cmp.Or(cmp.Compare(ma, mb), cmp.Compare(pa, pb), cmp.Compare(ga, gb))
	})
	return segs
}

// readDirFiles returns every file of dir and its bytes.
func readDirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	files := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		must(t, err)
		files[e.Name()] = b
	}
	return files
}

// modelReplay replays the Log in dir as an open would, without changing
// it. A Log of version 1 first loses what its latest compaction marker
// makes obsolete (a marker not exactly as version 1 wrote it is damage);
// then of the segments with one major number and part, the newest
// generation stands. Each is replayed up to its first record that is not
// whole and valid: the newest segment's torn tail if no chain of valid
// records runs from a later offset to its end, damage otherwise. The model
// also replays the Log with each damaged span skipped (up to where the
// chain resumes), what a repair keeps of it.
func modelReplay(t *testing.T, dir string) modelLog {
	t.Helper()
	files := readDirFiles(t, dir)
	m := modelLog{state: map[string][]byte{}, validIn: map[string]int64{}, skipped: map[string][]byte{}}
	if string(files[".partd-log"]) == "partd log 1\n" {
		var gen uint32
		var commitMajor uint64
		for n, b := range files {
			g, ok := strings.CutPrefix(n, "compacted-")
			if !ok {
				continue
			}
			gn, err := strconv.ParseUint(g, 16, 32)
			hex := strings.TrimSuffix(string(b), "\n")
			mj, err2 := strconv.ParseUint(hex, 16, 64)
			if err != nil || len(g) != 8 || g != strings.ToLower(g) || gn == 0 || gn >= math.MaxUint32>>1 ||
				err2 != nil || len(b) != 17 || len(hex) != 16 || hex != strings.ToLower(hex) || mj >= math.MaxUint64>>1 {
				m.badMarker = true
				return m
			}
			if uint32(gn) >= gen {
				gen, commitMajor = uint32(gn), mj
			}
		}
		for n := range files {
			if major, g, _, ok := parseSegName(n); ok {
				if gen > 0 && g == gen && major != commitMajor {
					m.badMarker = true
					return m
				}
				if g > gen || (major <= commitMajor && g < gen) {
					delete(files, n)
				}
			}
		}
	}
	type place struct {
		major uint64
		part  uint32
	}
	newest := map[place]uint32{}
	for n := range files {
		if major, g, part, ok := parseSegName(n); ok {
			newest[place{major, part}] = max(newest[place{major, part}], g)
		}
	}
	for n := range files {
		if major, g, part, ok := parseSegName(n); ok && g != newest[place{major, part}] {
			delete(files, n)
		}
	}
	segs := segmentNames(files)
	for i, n := range segs {
		b := files[n]
		_, gen, _, _ := parseSegName(n)
		pos := 0
		for pos < len(b) {
			r, size, ok := modelRecord(b[pos:])
			if ok {
				m.apply(r, m.state)
				m.apply(r, m.skipped)
				pos += size
				continue
			}
			q := modelResync(b, pos)
			if q < 0 && i == len(segs)-1 && gen == 0 {
				m.torn++
				m.tornBytes += int64(len(b) - pos)
				break
			}
			m.corrupt = true
			if q < 0 {
				break
			}
			pos = q // the repair's replay goes on here; m.state is moot
		}
		if !m.corrupt {
			m.validIn[n] = int64(pos)
			m.bytes += int64(min(pos, len(b)))
		}
	}
	for _, v := range m.state {
		m.live += int64(len(v))
	}
	return m
}

// modelResync returns the first offset after pos from which valid records
// follow each other to the end of b, or -1.
func modelResync(b []byte, pos int) int {
	for q := pos + 1; q < len(b); q++ {
		p := q
		for p < len(b) {
			_, size, ok := modelRecord(b[p:])
			if !ok {
				break
			}
			p += size
		}
		if p == len(b) {
			return q
		}
	}
	return -1
}

// checkRepair checks a damaged Log: its open fails with ErrCorrupt and
// changes nothing, a dry run of RepairLog changes nothing, and RepairLog
// leaves a Log whose every key holds what the undamaged records say and
// that lacks only keys it reports. It returns the model of the repaired
// Log.
func checkRepair(t *testing.T, dir string, m modelLog) modelLog {
	t.Helper()
	before := readDirFiles(t, dir)
	if l, err := partd.OpenLog(dir, fuzzLogOptions()); !errors.Is(err, partd.ErrCorrupt) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("open of a damaged log: %v, want ErrCorrupt", err)
	}
	dry, err := partd.RepairLog(dir, true, fuzzLogOptions())
	must(t, err)
	if after := readDirFiles(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Fatal("a failed open or a dry run changed the directory")
	}
	if len(dry.Damage) == 0 {
		t.Fatalf("dry run found no damage: %+v", dry)
	}
	rep, err := partd.RepairLog(dir, false, fuzzLogOptions())
	must(t, err)
	if !slices.Equal(rep.DroppedKeys, dry.DroppedKeys) || len(rep.Damage) != len(dry.Damage) {
		t.Fatalf("repair %+v, dry run %+v: they differ", rep, dry)
	}
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer l.Close()
	if st := l.Stats(); st.TornRecords != 0 {
		t.Fatalf("open after repair: %+v, want nothing torn", st)
	}
	keys, err := l.Keys()
	must(t, err)
	vals, err := l.Get(keys...)
	must(t, err)
	got := map[string][]byte{}
	for i, k := range keys {
		if !bytes.Equal(vals[i], m.skipped[k]) {
			t.Fatalf("after repair %q holds %q; the undamaged records say %q", k, vals[i], m.skipped[k])
		}
		got[k] = vals[i]
	}
	for k := range m.skipped {
		if _, ok := got[k]; !ok && !slices.Contains(rep.DroppedKeys, k) {
			t.Fatalf("after repair %q is gone, but the report %+v does not say so", k, rep)
		}
	}
	for _, k := range rep.DroppedKeys {
		if _, ok := got[k]; ok {
			t.Fatalf("the report drops %q, which the log still holds", k)
		}
	}
	must(t, l.Close())
	r := modelLog{state: got, validIn: map[string]int64{}, repaired: true}
	st := l.Stats()
	r.bytes, r.live = st.Bytes, st.LiveBytes
	return r
}

type modelRec struct {
	kind byte
	keys []string
	vals [][]byte
}

// modelRecord decodes the record at the start of b:
//
//	record  = crc32c u32 | length u32 | kind u8 | payload (length bytes)
//	payload = count uvarint | count × (keylen uvarint | key | valuelen uvarint) | values
func modelRecord(b []byte) (r modelRec, size int, ok bool) {
	if len(b) < 9 {
		return r, 0, false
	}
	length := uint64(binary.LittleEndian.Uint32(b[4:]))
	if uint64(len(b)-9) < length {
		return r, 0, false
	}
	size = 9 + int(length)
	if crc32.Checksum(b[4:size], crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(b) {
		return r, 0, false
	}
	r.kind = b[8]
	if r.kind < 1 || r.kind > 5 {
		return r, 0, false
	}
	p := b[9:size]
	count, n := binary.Uvarint(p)
	if n <= 0 {
		return r, 0, false
	}
	p = p[n:]
	var lens []uint64
	var total uint64
	for range count { // each key takes two bytes at least, so this ends
		klen, n := binary.Uvarint(p)
		if n <= 0 || klen > partd.MaxKeyLen || klen > uint64(len(p)-n) {
			return r, 0, false
		}
		r.keys = append(r.keys, string(p[n:n+int(klen)]))
		p = p[n+int(klen):]
		vlen, n := binary.Uvarint(p)
		if n <= 0 || vlen > length {
			return r, 0, false
		}
		p = p[n:]
		lens = append(lens, vlen)
		total += vlen
	}
	if total != uint64(len(p)) {
		return r, 0, false
	}
	for _, n := range lens {
		r.vals = append(r.vals, p[:n])
		p = p[n:]
	}
	return r, size, true
}

// apply applies a record: an append adds each value to its key, a set or
// base replaces the key's bytes, a delete removes its keys, a drop
// everything. Invalid keys, which no Log writes, are left out.
func (m *modelLog) apply(r modelRec, state map[string][]byte) {
	switch r.kind {
	case 4:
		clear(state)
		return
	case 3:
		for _, k := range r.keys {
			delete(state, k)
		}
		return
	}
	for i, k := range r.keys {
		if partd.ValidateKey(k) != nil {
			continue
		}
		if r.kind == 2 || r.kind == 5 {
			delete(state, k)
		}
		if len(r.vals[i]) > 0 {
			state[k] = append(state[k], r.vals[i]...)
		}
	}
}
