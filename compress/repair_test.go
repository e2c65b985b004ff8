package compress_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// stored returns the bytes key holds in inner.
func stored(t testing.TB, inner partd.Store, key string) []byte {
	t.Helper()
	return get1(t, inner, key)
}

func TestTornTail(t *testing.T) {
	for _, l := range levels {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			s := l.wrap(inner)
			first, second := []byte(strings.Repeat("first value ", 30)), []byte(strings.Repeat("second ", 50))
			check(t, s.Append(map[string][]byte{"k": first}))
			whole := len(stored(t, inner, "k"))
			check(t, s.Append(map[string][]byte{"k": second}))
			raw := stored(t, inner, "k")
			// Every cut inside the second frame is a torn tail.
			for cut := whole + 1; cut < len(raw); cut++ {
				check(t, inner.Set("k", raw[:cut]))
				_, err := s.Get("k")
				if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), `"k"`) {
					t.Fatalf("cut at %d of %d: err = %v, want ErrCorrupt naming the key", cut, len(raw), err)
				}
				v, dropped, err := compress.Salvage(s, "k")
				check(t, err)
				if !bytes.Equal(v, first) || dropped != int64(cut-whole) {
					t.Fatalf("Salvage after cut at %d = %d bytes, dropped %d; want %d bytes, dropped %d",
						cut, len(v), dropped, len(first), cut-whole)
				}
			}
			check(t, inner.Set("k", raw[:len(raw)-1]))
			// TornTail says what Repair will cut, and cuts nothing.
			kept, dropped, err := compress.TornTail(inner, "k")
			check(t, err)
			if kept != int64(whole) || dropped != int64(len(raw)-1-whole) || len(stored(t, inner, "k")) != len(raw)-1 {
				t.Fatalf("TornTail = kept %d, dropped %d; want %d, %d and nothing written", kept, dropped, whole, len(raw)-1-whole)
			}
			kept, dropped, err = compress.Repair(inner, "k")
			check(t, err)
			if kept != int64(whole) || dropped != int64(len(raw)-1-whole) {
				t.Fatalf("Repair = kept %d, dropped %d; want %d, %d", kept, dropped, whole, len(raw)-1-whole)
			}
			if got := get1(t, s, "k"); !bytes.Equal(got, first) {
				t.Fatalf("after Repair Get = %q, want the first value", got)
			}
			// Appends go on after the repaired prefix.
			check(t, s.Append(map[string][]byte{"k": second}))
			if got := get1(t, s, "k"); !bytes.Equal(got, append(bytes.Clone(first), second...)) {
				t.Fatalf("append after Repair: got %d bytes", len(got))
			}
			kept, dropped, err = compress.Repair(inner, "k")
			check(t, err)
			if dropped != 0 || kept != int64(len(raw)) {
				t.Fatalf("Repair of an intact key = kept %d, dropped %d; want %d, 0", kept, dropped, len(raw))
			}
			// A key with no whole frame goes away.
			check(t, inner.Set("k", raw[:5]))
			if kept, dropped, err := compress.Repair(inner, "k"); err != nil || kept != 0 || dropped != 5 {
				t.Fatalf("Repair of a 5-byte key = %d, %d, %v; want 0, 5, nil", kept, dropped, err)
			}
			if keys, _ := inner.Keys(); len(keys) != 0 {
				t.Fatalf("keys after repairing away the only frame: %q", keys)
			}
		})
	}
}

func TestSalvageStopsAtBadFrame(t *testing.T) {
	for _, l := range layers[:3] {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			s := l.wrap(inner)
			check(t, s.Append(map[string][]byte{"k": []byte("one,")}))
			n1 := len(stored(t, inner, "k"))
			check(t, s.Append(map[string][]byte{"k": []byte("two,")}))
			check(t, s.Append(map[string][]byte{"k": []byte("three")}))
			raw := stored(t, inner, "k")
			// Garble the second frame's body (keep its length).
			bad := bytes.Clone(raw)
			for i := n1 + 8; i < n1+12; i++ {
				bad[i] ^= 0xff
			}
			check(t, inner.Set("k", bad))
			if _, err := s.Get("k"); !errors.Is(err, partd.ErrCorrupt) {
				t.Fatalf("Get: err = %v, want ErrCorrupt", err)
			}
			v, dropped, err := compress.Salvage(s, "k")
			check(t, err)
			if string(v) != "one," || dropped != int64(len(raw)-n1) {
				t.Fatalf("Salvage = %q, dropped %d; want \"one,\", %d", v, dropped, len(raw)-n1)
			}
			check(t, s.Set("k", v))
			if got := get1(t, s, "k"); string(got) != "one," {
				t.Fatalf("after rewrite Get = %q", got)
			}
		})
	}
	if _, _, err := compress.Salvage(partd.NewDict(), "k"); err == nil {
		t.Fatal("Salvage on a Dict: no error")
	}
}

// Empty frames are what a crash can leave (zero-filled blocks): never
// silently read as nothing.
func TestZeroFilledTail(t *testing.T) {
	for _, l := range layers[:3] {
		inner := partd.NewDict()
		s := l.wrap(inner)
		check(t, s.Append(map[string][]byte{"k": []byte("data")}))
		check(t, inner.Append(map[string][]byte{"k": make([]byte, 64)}))
		if _, err := s.Get("k"); !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("%s: zero-filled tail: err = %v, want ErrCorrupt", l.name, err)
		}
	}
}
