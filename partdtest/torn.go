package partdtest

import (
	"bytes"
	"testing"

	"github.com/gopartd/partd"
)

// TornTail describes a persistent store for RunTornTail.
type TornTail struct {
	// Open opens (creating if need be) the store in dir.
	Open func(t *testing.T, dir string) partd.Store
	// Tear damages the end of what the store's last batch wrote in dir, as
	// a crash in the middle of a write leaves it: cut a few bytes off, or
	// flip one.
	Tear func(t *testing.T, dir string)
	// Atomic says a batch is whole or absent after a crash (a Log). If not
	// (a File), a key may keep a prefix of its last append.
	Atomic bool
}

// RunTornTail checks what a store shows after a crash tore its last batch:
// it opens without error, every earlier batch is whole, the torn batch is
// whole or absent (Atomic) or at most a prefix per key, and the store takes
// and keeps new appends.
func RunTornTail(t *testing.T, tt TornTail) {
	dir := t.TempDir()
	first := map[string][]byte{"a": bytes.Repeat([]byte("A1"), 500), "t/b": bytes.Repeat([]byte("B1"), 700)}
	second := map[string][]byte{"a": bytes.Repeat([]byte("A2"), 600), "t/b": bytes.Repeat([]byte("B2"), 800)}
	s := tt.Open(t, dir)
	must(t, s.Append(first))
	must(t, s.Close())
	s = tt.Open(t, dir)
	must(t, s.Append(second))
	must(t, s.Close())
	tt.Tear(t, dir)

	s = tt.Open(t, dir)
	whole := 0
	for _, k := range []string{"a", "t/b"} {
		got := get1(t, s, k)
		if !bytes.HasPrefix(got, first[k]) {
			t.Fatalf("%s: %d bytes, not starting with the first batch's %d: an earlier batch was lost", k, len(got), len(first[k]))
		}
		rest := got[len(first[k]):]
		if !bytes.HasPrefix(second[k], rest) {
			t.Fatalf("%s: after the first batch, %d bytes that are not a prefix of the torn batch", k, len(rest))
		}
		switch len(rest) {
		case len(second[k]):
			whole++
		case 0:
		default:
			if tt.Atomic {
				t.Fatalf("%s keeps %d of the torn batch's %d bytes: a batch is whole or absent", k, len(rest), len(second[k]))
			}
		}
	}
	if tt.Atomic && whole == 1 {
		t.Fatalf("the torn batch is whole for one key and absent for the other")
	}
	must(t, s.Append(map[string][]byte{"c": []byte("after the crash")}))
	must(t, s.Close())
	s = tt.Open(t, dir)
	wantBytes(t, s, "c", "after the crash")
	must(t, s.Close())
}
