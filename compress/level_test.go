package compress_test

import (
	"fmt"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// seqText returns what `seq 1 n` prints.
func seqText(n int) []byte {
	var b []byte
	for i := 1; i <= n; i++ {
		b = fmt.Appendf(b, "%d\n", i)
	}
	return b
}

// TestZstdDefaultCompressesText: the default zstd layer stores the output
// of `seq 1 100000` (589 KB of digits, with few repeated runs) at least 2x
// smaller, whole and in 4 KiB appends, as zstd -1 does (2.4x). klauspost's
// fastest speed alone stored it at 1.00x.
func TestZstdDefaultCompressesText(t *testing.T) {
	text := seqText(100000)
	for _, chunk := range []int{len(text), 64 << 10, 4 << 10} {
		for _, level := range []int{0, 1, 3} {
			inner := partd.NewDict()
			s, err := compress.NewZstd(inner, compress.WithLevel(level))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(text); i += chunk {
				if err := s.Append(map[string][]byte{"seq": text[i:min(i+chunk, len(text))]}); err != nil {
					t.Fatal(err)
				}
			}
			ratio := float64(len(text)) / float64(inner.Size())
			t.Logf("level %d, %d-byte appends: %.2fx", level, chunk, ratio)
			if ratio < 2 {
				t.Errorf("zstd level %d (0: the default) stored seq 1 100000 in %d-byte appends at %.2fx, want at least 2x", level, chunk, ratio)
			}
			got, err := s.Get("seq")
			if err != nil || string(got[0]) != string(text) {
				t.Fatalf("Get: %d bytes, %v", len(got[0]), err)
			}
		}
	}
}
