//go:build unix

// This file is the root package's one build-tagged file: its tests plant
// FIFOs (mkfifo) and measure a disk's free space (statfs), which Windows
// does not have.

package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gopartd/partd"
)

// integrityLog writes a Log of several segments, one operation at a time,
// and returns its directory and what it held after each operation.
func integrityLog(t *testing.T) (string, []map[string]string) {
	t.Helper()
	dir := t.TempDir()
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	must(t, err)
	state := map[string]string{}
	var states []map[string]string
	step := func(err error) {
		t.Helper()
		must(t, err)
		states = append(states, maps.Clone(state))
	}
	for i := range 20 {
		a, b := fmt.Sprintf("-a%d", i), fmt.Sprintf("-b%d", i)
		state["a"] += a
		state["b/c"] += b
		step(l.Append(map[string][]byte{"a": []byte(a), "b/c": []byte(b)}))
		if i == 2 {
			state["gone"] = "deleted later"
			step(l.Append(map[string][]byte{"gone": []byte("deleted later")}))
			delete(state, "gone")
			step(l.Delete("gone"))
			state["s"] = "set"
			step(l.Set("s", []byte("set")))
		}
	}
	must(t, l.Close())
	return dir, states
}

func logState(t *testing.T, l *partd.Log) map[string]string {
	t.Helper()
	keys, err := l.Keys()
	must(t, err)
	vals, err := l.Get(keys...)
	must(t, err)
	got := map[string]string{}
	for i, k := range keys {
		got[k] = string(vals[i])
	}
	return got
}

// TestLogFlippedByteNeverWrongData flips one bit at every byte of every
// segment of a Log, one at a time, and opens it. The open either fails
// with ErrCorrupt and changes no file, or the flip was in the newest
// segment's last record, a torn tail: the Log then holds what it held
// before its last operation. Never anything else.
func TestLogFlippedByteNeverWrongData(t *testing.T) {
	dir, states := integrityLog(t)
	final, beforeLast := states[len(states)-1], states[len(states)-2]
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	slices.Sort(segs)
	pristine := readDirFiles(t, dir)
	var corrupt, torn int
	for _, seg := range segs {
		orig := pristine[filepath.Base(seg)]
		for i := range orig {
			b := slices.Clone(orig)
			b[i] ^= 0x10
			must(t, os.WriteFile(seg, b, 0o644))
			before := readDirFiles(t, dir)
			l, err := partd.OpenLog(dir, fuzzLogOptions())
			switch {
			case errors.Is(err, partd.ErrCorrupt):
				corrupt++
				if !strings.Contains(err.Error(), filepath.Base(seg)) {
					t.Fatalf("the error does not name the segment %s: %v", filepath.Base(seg), err)
				}
				if after := readDirFiles(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
					t.Fatalf("flip at %s:%d: a failed open changed the directory", filepath.Base(seg), i)
				}
			case err != nil:
				t.Fatalf("flip at %s:%d: open: %v, want ErrCorrupt or success", filepath.Base(seg), i, err)
			default:
				got := logState(t, l)
				st := l.Stats()
				must(t, l.Close())
				if seg != segs[len(segs)-1] || st.TornRecords != 1 || !maps.Equal(got, beforeLast) {
					t.Fatalf("flip at %s:%d: the open succeeded with %q (stats %+v); only a torn tail of the newest segment may, leaving %q",
						filepath.Base(seg), i, got, st, beforeLast)
				}
				torn++
			}
			// Back to the pristine Log for the next flip.
			for n, b := range pristine {
				must(t, os.WriteFile(filepath.Join(dir, n), b, 0o644))
			}
			for n := range readDirFiles(t, dir) {
				if _, ok := pristine[n]; !ok {
					must(t, os.Remove(filepath.Join(dir, n)))
				}
			}
		}
	}
	t.Logf("%d flips failed the open with ErrCorrupt, %d were a torn tail", corrupt, torn)
	if torn == 0 || corrupt == 0 {
		t.Fatalf("corrupt %d, torn %d: want both", corrupt, torn)
	}
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	must(t, err)
	defer l.Close()
	if got := logState(t, l); !maps.Equal(got, final) {
		t.Fatalf("the pristine log holds %q, want %q", got, final)
	}
}

// TestLogRepair: a damaged delete record in a sealed segment must not bring
// the deleted key back. The open fails; RepairLog's dry run reports what
// it would drop and changes nothing; RepairLog drops the damaged record and
// the key it touched, keeps everything else, and the Log opens again.
func TestLogRepair(t *testing.T) {
	dir, states := integrityLog(t)
	final := states[len(states)-1]
	// The delete record of "gone": kind 3, one key of 4 bytes.
	var seg string
	var at int
	for _, p := range must1(filepath.Glob(filepath.Join(dir, "*.seg"))) {
		b := must1(os.ReadFile(p))
		if i := bytes.Index(b, []byte("\x03\x01\x04gone\x00")); i >= 8 {
			seg, at = p, i-8
		}
	}
	if seg == "" {
		t.Fatal("no delete record of gone in the segments")
	}
	b := must1(os.ReadFile(seg))
	b[at+9+3] ^= 0x01 // "gone" -> "gnne": the checksum no longer holds
	must(t, os.WriteFile(seg, b, 0o644))

	_, err := partd.OpenLog(dir, fuzzLogOptions())
	if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(seg)) || !strings.Contains(err.Error(), fmt.Sprintf("byte %d", at)) {
		t.Fatalf("open: %v; want ErrCorrupt naming %s and byte %d", err, filepath.Base(seg), at)
	}
	before := readDirFiles(t, dir)
	dry, err := partd.RepairLog(dir, true, fuzzLogOptions())
	must(t, err)
	if after := readDirFiles(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Fatal("the dry run changed the directory")
	}
	if len(dry.Damage) != 1 || dry.Damage[0].Offset != int64(at) || dry.Damage[0].Segment != filepath.Base(seg) || !slices.Equal(dry.Damage[0].Keys, []string{"gone"}) || !slices.Equal(dry.DroppedKeys, []string{"gone"}) {
		t.Fatalf("dry run: %+v", dry)
	}
	rep, err := partd.RepairLog(dir, false, fuzzLogOptions())
	must(t, err)
	if len(rep.Damage) != 1 || rep.Damage[0].Length != 16 {
		t.Fatalf("repair: %+v; want one damaged record of 16 bytes", rep)
	}
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	must(t, err)
	defer l.Close()
	if got := logState(t, l); !maps.Equal(got, final) {
		t.Fatalf("after repair: %q, want %q (gone stays gone)", got, final)
	}
}

// TestLogRepairDropsTouchedKeys: a damaged append record in a sealed
// segment is dropped with the keys it touched, which would otherwise come
// back with a hole; keys it did not touch are kept whole. With one flipped
// bit the checksum names the keys; with more, every key held then is
// dropped (here the same two).
func TestLogRepairDropsTouchedKeys(t *testing.T) {
	t.Run("one bit", func(t *testing.T) { testRepairDropsTouchedKeys(t, false) })
	t.Run("two bytes", func(t *testing.T) { testRepairDropsTouchedKeys(t, true) })
}

func testRepairDropsTouchedKeys(t *testing.T, multi bool) {
	dir, states := integrityLog(t)
	final := states[len(states)-1]
	var seg string
	var at int
	for _, p := range must1(filepath.Glob(filepath.Join(dir, "*.seg"))) {
		b := must1(os.ReadFile(p))
		if i := bytes.Index(b, []byte("-a1")); i >= 0 && seg == "" {
			seg, at = p, i
		}
	}
	b := must1(os.ReadFile(seg))
	b[at+1] ^= 0x01 // a value byte
	if multi {
		b[at+2] ^= 0x01
	}
	must(t, os.WriteFile(seg, b, 0o644))
	if _, err := partd.OpenLog(dir, fuzzLogOptions()); !errors.Is(err, partd.ErrCorrupt) {
		t.Fatalf("open: %v, want ErrCorrupt", err)
	}
	rep, err := partd.RepairLog(dir, false, fuzzLogOptions())
	must(t, err)
	if !slices.Equal(rep.DroppedKeys, []string{"a", "b/c"}) || len(rep.Damage) != 1 || rep.Damage[0].KeysUnknown != multi {
		t.Fatalf("repair dropped %q, want a and b/c: %+v", rep.DroppedKeys, rep)
	}
	l, err := partd.OpenLog(dir, fuzzLogOptions())
	must(t, err)
	defer l.Close()
	want := maps.Clone(final)
	delete(want, "a")
	delete(want, "b/c")
	if got := logState(t, l); !maps.Equal(got, want) {
		t.Fatalf("after repair: %q, want %q", got, want)
	}
	// The Log goes on.
	must(t, l.Append(map[string][]byte{"a": []byte("new")}))
	if got := getOne(t, l, "a"); got != "new" {
		t.Fatalf("a = %q after repair and append", got)
	}
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLogRefusesLinks: a symlink planted in a Log's directory as a segment
// or as its lock file is never followed: the open fails, and the file it
// points to, outside the store, is untouched. A FIFO planted as a segment
// fails the open instead of blocking it.
func TestLogRefusesLinks(t *testing.T) {
	for _, c := range []struct{ name, plant string }{
		{"segment", "0000000000000005-00000000-0000.seg"},
		{"lock file", ".partd-log"},
		{"fifo", "0000000000000006-00000000-0000.seg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "D")
			l, err := partd.OpenLog(dir, fuzzLogOptions())
			must(t, err)
			must(t, l.Append(map[string][]byte{"a": []byte("x")}))
			must(t, l.Close())
			victim := filepath.Join(root, "victim")
			must(t, os.WriteFile(victim, []byte("precious, outside the store"), 0o644))
			target := filepath.Join(dir, c.plant)
			os.Remove(target)
			if c.name == "fifo" {
				must(t, syscall.Mkfifo(target, 0o644))
			} else {
				must(t, os.Symlink("../victim", target))
			}
			_, err = partd.OpenLog(dir, fuzzLogOptions())
			if err == nil {
				t.Fatal("open succeeded")
			}
			if got := string(must1(os.ReadFile(victim))); got != "precious, outside the store" {
				t.Fatalf("the victim outside the store now holds %q", got)
			}
			if c.name != "fifo" && !errors.Is(err, syscall.ELOOP) {
				t.Fatalf("open: %v, want ELOOP", err)
			}
		})
	}
}

// TestLogSegmentSizeLimit: offsets within a segment are 32-bit, so a
// SegmentSize beyond them is refused rather than wrapped.
func TestLogSegmentSizeLimit(t *testing.T) {
	_, err := partd.OpenLog(t.TempDir(), &partd.LogOptions{SegmentSize: 8 << 30})
	if err == nil || !strings.Contains(err.Error(), "SegmentSize") {
		t.Fatalf("open with an 8 GiB SegmentSize: %v, want an error naming it", err)
	}
	l, err := partd.OpenLog(t.TempDir(), &partd.LogOptions{SegmentSize: 4<<30 - 64<<10})
	must(t, err)
	must(t, l.Close())
}

// TestLogLegacyMarker: a Log of version 1 that a compaction left with its
// marker, its outputs and its inputs opens with the inputs removed; the same
// Log with one character of the marker changed fails to open with
// ErrCorrupt, and nothing is removed.
func TestLogLegacyMarker(t *testing.T) {
	build := func(t *testing.T) (string, map[string]string) {
		dir := t.TempDir()
		l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 1024, CompactGarbage: -1, Logger: quietLog})
		must(t, err)
		for i := range 4 {
			must(t, l.Append(map[string][]byte{fmt.Sprintf("k%d", i): bytes.Repeat([]byte{byte('a' + i)}, 100)}))
		}
		must(t, l.Set("k0", []byte("set")))
		want := logState(t, l)
		// A version 1 compaction that committed and was cut off before it
		// removed its input: the oldest segment, replaced by generation 1.
		oldest := must1(filepath.Glob(filepath.Join(dir, "0000000000000000-00000000-0000.seg")))[0]
		input := must1(os.ReadFile(oldest))
		must(t, l.Compact())
		must(t, l.Close())
		if _, err := os.Stat(filepath.Join(dir, "0000000000000000-00000001-0000.seg")); err != nil {
			t.Fatalf("no replacement of the oldest segment: %v", err)
		}
		must(t, os.WriteFile(oldest, input, 0o644))
		must(t, os.WriteFile(filepath.Join(dir, "compacted-00000001"), []byte("0000000000000000\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(dir, ".partd-log"), []byte("partd log 1\n"), 0o644))
		return dir, want
	}
	t.Run("whole", func(t *testing.T) {
		dir, want := build(t)
		l, err := partd.OpenLog(dir, fuzzLogOptions())
		must(t, err)
		defer l.Close()
		if got := logState(t, l); !maps.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, "0000000000000000-00000000-0000.seg")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the compaction's input is still there: %v", err)
		}
	})
	for _, marker := range []string{"0000000000000002\n", "000000000000000g\n", "0000000000000000", "0000000000000000\n\n"} {
		t.Run(fmt.Sprintf("%q", marker), func(t *testing.T) {
			dir, _ := build(t)
			must(t, os.WriteFile(filepath.Join(dir, "compacted-00000001"), []byte(marker), 0o644))
			before := readDirFiles(t, dir)
			_, err := partd.OpenLog(dir, fuzzLogOptions())
			if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), "compacted-00000001") {
				t.Fatalf("open: %v, want ErrCorrupt naming the marker", err)
			}
			if after := readDirFiles(t, dir); !maps.EqualFunc(before, after, bytes.Equal) {
				t.Fatal("the failed open changed the directory")
			}
		})
	}
	t.Run("damaged name", func(t *testing.T) {
		dir, _ := build(t)
		must(t, os.Rename(filepath.Join(dir, "compacted-00000001"), filepath.Join(dir, "compacted-0000000q")))
		if _, err := partd.OpenLog(dir, fuzzLogOptions()); !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("open: %v, want ErrCorrupt", err)
		}
	})
}

// TestLogCompactsOnNearlyFullDisk: on a real disk that the Log has nearly
// filled, with half its bytes dead, a compaction still runs (it needs room
// for one segment at a time, not for every live byte) and returns the
// space.
func TestLogCompactsOnNearlyFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 64 << 10, CompactGarbage: -1, Logger: quietLog})
	must(t, err)
	t.Cleanup(func() { l.Close() }) // before the unmount
	// Each round appends to keys live/N and dead/N, then deletes dead/N:
	// half of every segment is dead. It stops with room for three segments
	// left, far less than the live bytes.
	value := bytes.Repeat([]byte("v"), 4000)
	want := map[string]string{}
	for i := 0; ; i++ {
		var fs syscall.Statfs_t
		must(t, syscall.Statfs(dir, &fs))
		if int64(fs.Bavail)*int64(fs.Bsize) < 3*64<<10 {
			break
		}
		live, dead := fmt.Sprintf("live/%d", i), fmt.Sprintf("dead/%d", i)
		must(t, l.Append(map[string][]byte{live: value, dead: value}))
		want[live] = string(value)
		must(t, l.Delete(dead))
	}
	full := l.Stats()
	if full.LiveBytes*3 < full.Bytes {
		t.Fatalf("%+v: want about half the bytes live", full)
	}
	must(t, l.Compact())
	after := l.Stats()
	if after.Bytes > full.Bytes*6/10 {
		t.Fatalf("compaction left %d bytes of %d", after.Bytes, full.Bytes)
	}
	if got := logState(t, l); !maps.Equal(got, want) {
		t.Fatalf("after compaction: %d keys, want %d", len(got), len(want))
	}
	must(t, l.Append(map[string][]byte{"room": value}))
	must(t, l.Close())
	l, err = partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 64 << 10, CompactGarbage: -1, Logger: quietLog})
	must(t, err)
	want["room"] = string(value)
	if got := logState(t, l); !maps.Equal(got, want) {
		t.Fatalf("after reopen: %d keys, want %d", len(got), len(want))
	}
	t.Logf("disk full at %d bytes (%d live); after compaction %d", full.Bytes, full.LiveBytes, after.Bytes)
}

// TestLogCompactionCrashStates: the states a crash can leave a compaction
// in open to the same Log: a replacement not yet renamed into place (a
// .tmp file, removed), and a replacement in place beside the segment it
// replaced (the older generation removed).
func TestLogCompactionCrashStates(t *testing.T) {
	opts := &partd.LogOptions{SegmentSize: 1024, CompactGarbage: -1, Logger: quietLog}
	dir := t.TempDir()
	l, err := partd.OpenLog(dir, opts)
	must(t, err)
	for i := range 4 {
		must(t, l.Append(map[string][]byte{fmt.Sprintf("k%d", i): bytes.Repeat([]byte{byte('a' + i)}, 100)}))
	}
	must(t, l.Set("k0", []byte("set")))
	want := logState(t, l)
	oldest := filepath.Join(dir, "0000000000000000-00000000-0000.seg")
	input := must1(os.ReadFile(oldest))
	must(t, l.Compact())
	must(t, l.Close())
	replacement := filepath.Join(dir, "0000000000000000-00000001-0000.seg")
	output := must1(os.ReadFile(replacement))

	// Cut off after the rename, before the old segment was removed.
	must(t, os.WriteFile(oldest, input, 0o644))
	// And a replacement of another compaction, cut off before its rename.
	tmp := filepath.Join(dir, "0000000000000001-00000002-0000.seg.tmp")
	must(t, os.WriteFile(tmp, output[:len(output)/2], 0o644))
	l, err = partd.OpenLog(dir, opts)
	must(t, err)
	if got := logState(t, l); !maps.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	must(t, l.Close())
	for _, gone := range []string{oldest, tmp} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there: %v", filepath.Base(gone), err)
		}
	}
	// Cut off before the rename: the old segment stands alone.
	must(t, os.Rename(replacement, replacement+".tmp"))
	must(t, os.WriteFile(oldest, input, 0o644))
	l, err = partd.OpenLog(dir, opts)
	must(t, err)
	defer l.Close()
	if got := logState(t, l); !maps.Equal(got, want) {
		t.Fatalf("before the rename: got %q, want %q", got, want)
	}
}
