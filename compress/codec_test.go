package compress_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// A flipped bit in zstd data is caught by the content checksum, the
// declared size or the decoder, except in the few bits the format ignores
// (unused bits of a Huffman table's description: literals are entropy-coded
// at every level); those read back the very same value. No flip ever reads
// back other bytes.
func TestZstdDetectsEveryBitFlip(t *testing.T) {
	inner := partd.NewDict()
	s := compress.Zstd(inner)
	check(t, s.Append(map[string][]byte{"k": []byte("hello hello hello, a short value")}))
	check(t, s.Append(map[string][]byte{"k": bytes.Repeat([]byte("0123456789,abc;"), 40)}))
	want, err := s.Get("k")
	check(t, err)
	raw := stored(t, inner, "k")
	ignored := 0
	for bit := range len(raw) * 8 {
		bad := bytes.Clone(raw)
		bad[bit/8] ^= 1 << (bit % 8)
		check(t, inner.Set("k", bad))
		got, err := s.Get("k")
		if err == nil {
			if !bytes.Equal(got[0], want[0]) {
				t.Fatalf("flipped bit %d of %d: read back other bytes without an error", bit, len(raw)*8)
			}
			ignored++
			continue
		}
		if !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("flipped bit %d of %d: err = %v, want ErrCorrupt", bit, len(raw)*8, err)
		}
		if !strings.Contains(err.Error(), `"k"`) {
			t.Fatalf("error %q does not name the key", err)
		}
	}
	if ignored > len(raw)*8/50 {
		t.Fatalf("%d of %d bit flips went unnoticed", ignored, len(raw)*8)
	}
}

// A flipped bit in zlib data is caught by the Adler-32 or by the decoder
// except in the padding bits deflate ignores (after a stored block's header
// and at the end); count them rather than require every one.
func TestZLibDetectsMostBitFlips(t *testing.T) {
	inner := partd.NewDict()
	s := compress.ZLib(inner)
	check(t, s.Append(map[string][]byte{"k": bytes.Repeat([]byte("0123456789,abc;"), 40)}))
	raw := stored(t, inner, "k")
	missed := 0
	for bit := range len(raw) * 8 {
		bad := bytes.Clone(raw)
		bad[bit/8] ^= 1 << (bit % 8)
		check(t, inner.Set("k", bad))
		if _, err := s.Get("k"); err == nil {
			missed++
		} else if !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("flipped bit %d: err = %v, want ErrCorrupt", bit, err)
		}
	}
	if missed > len(raw)*8/20 {
		t.Fatalf("%d of %d bit flips went unnoticed", missed, len(raw)*8)
	}
}
