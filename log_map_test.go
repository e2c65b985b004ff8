package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gopartd/partd"
)

// mappedLog fills a Log of small segments with keys whose bytes lie in
// many small runs across sealed segments (each read through the segments'
// mappings where the system maps files) and returns it with what each key
// holds.
func mappedLog(t *testing.T, dir string) (*partd.Log, map[string][]byte) {
	t.Helper()
	l, err := partd.OpenLog(dir, &partd.LogOptions{SegmentSize: 4 << 10, CompactGarbage: -1, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for i := range 200 {
		batch := map[string][]byte{}
		for k := range 8 {
			key := fmt.Sprintf("k%d", k)
			v := fmt.Appendf(nil, "<%s:%04d>", key, i)
			batch[key] = v
			want[key] = append(want[key], v...)
		}
		must(t, l.Append(batch))
	}
	if st := l.Stats(); st.Segments < 4 {
		t.Fatalf("want several segments, have %+v", st)
	}
	return l, want
}

// sealedSegments returns the Log's segment files in dir but the newest
// (the active one).
func sealedSegments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(m) < 2 {
		t.Fatalf("segments %v: %v", m, err)
	}
	slices.Sort(m)
	return m[:len(m)-1]
}

// TestLogSegmentRemovedWhileMapped: a segment file removed from outside the
// Log while it is mapped (or open) still reads whole: the mapping holds the
// file.
func TestLogSegmentRemovedWhileMapped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("an open file cannot be removed on Windows")
	}
	dir := t.TempDir()
	l, want := mappedLog(t, dir)
	defer l.Close()
	for _, p := range sealedSegments(t, dir) {
		must(t, os.Remove(p))
	}
	checkLog(t, l, want)
	// And after more appends, which seal the active segment and map it.
	must(t, l.Append(map[string][]byte{"k0": bytes.Repeat([]byte("x"), 20<<10)}))
	want["k0"] = append(want["k0"], bytes.Repeat([]byte("x"), 20<<10)...)
	checkLog(t, l, want)
}

// TestLogSegmentTruncatedWhileMapped: a sealed segment cut short from
// outside the Log while it is mapped makes a Get of the keys in it fail with
// ErrCorrupt (a fault reading the mapping, SIGBUS, is caught), the process
// lives, and keys elsewhere still read.
func TestLogSegmentTruncatedWhileMapped(t *testing.T) {
	dir := t.TempDir()
	l, _ := mappedLog(t, dir)
	defer l.Close()
	segs := sealedSegments(t, dir)
	must(t, os.Truncate(segs[0], 0))
	for range 2 {
		_, err := l.Get("k0", "k1")
		if !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("Get of keys in a segment cut short: %v, want ErrCorrupt", err)
		}
	}
	// A key whose bytes all lie after the damage reads.
	must(t, l.Append(map[string][]byte{"late": []byte("fine")}))
	if got := getOne(t, l, "late"); got != "fine" {
		t.Fatalf("late = %q", got)
	}
}

// TestLogGetRacesCompactAndDrop: Gets run while writers append and set,
// compactions rewrite and remove the segments they read, and Drops remove
// every segment; each Get returns whole values of its key or an empty one,
// never bytes of an unmapped or reused segment (run it with -race).
func TestLogGetRacesCompactAndDrop(t *testing.T) {
	l, err := partd.OpenLog(t.TempDir(), &partd.LogOptions{SegmentSize: 8 << 10, CompactMinBytes: 4 << 10, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const keys = 6
	token := func(k, i int) []byte { return fmt.Appendf(nil, "<k%d:%05d>", k, i) }
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { // the writer
		for i := 0; !stop.Load(); i++ {
			k := i % keys
			if i%7 == 0 {
				must(t, l.Set(fmt.Sprintf("k%d", k), token(k, i)))
			} else {
				must(t, l.Append(map[string][]byte{fmt.Sprintf("k%d", k): token(k, i), fmt.Sprintf("k%d", (k+1)%keys): token((k+1)%keys, i)}))
			}
		}
	})
	var rewrites atomic.Int64
	wg.Go(func() { // compactions and drops
		for i := 0; !stop.Load(); i++ {
			rewrites.Add(1)
			if i%5 == 4 {
				must(t, l.Drop())
			} else {
				must(t, l.Compact())
			}
			runtime.Gosched()
		}
	})
	var gets atomic.Int64
	for r := range 2 {
		wg.Go(func() { // readers
			dst := make([][]byte, keys)
			for !stop.Load() {
				names := make([]string, keys)
				for k := range keys {
					names[k] = fmt.Sprintf("k%d", k)
					dst[k] = dst[k][:0]
				}
				var vals [][]byte
				var err error
				if r == 0 {
					vals, err = l.Get(names...)
				} else {
					vals, err = partd.GetAppend(l, dst, names...)
				}
				if err != nil {
					t.Error(err)
					return
				}
				for k, v := range vals {
					want := fmt.Appendf(nil, "<k%d:", k)
					for len(v) > 0 {
						if len(v) < 10 || !bytes.HasPrefix(v, want) || v[9] != '>' {
							t.Errorf("k%d: a value that is not whole tokens of its key: %q", k, vals[k])
							return
						}
						v = v[10:]
					}
				}
				gets.Add(1)
			}
		})
	}
	for (gets.Load() < 3000 || rewrites.Load() < 50) && !t.Failed() {
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
}
