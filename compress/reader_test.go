package compress_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// TestReaderFrameByFrame: a layer's reader decodes a key's frames one at a
// time: the values of the frames before a damaged one are read, then the
// damaged one is ErrCorrupt naming it; a frame header that claims more
// than the data holds is ErrCorrupt too, before any allocation of its
// size.
func TestReaderFrameByFrame(t *testing.T) {
	layers := map[string]func(partd.Store) partd.Store{
		"zstd":   func(s partd.Store) partd.Store { return compress.Zstd(s) },
		"snappy": func(s partd.Store) partd.Store { return compress.Snappy(s) },
		"zlib":   func(s partd.Store) partd.Store { return compress.ZLib(s) },
	}
	for name, wrap := range layers {
		t.Run(name, func(t *testing.T) {
			inner := partd.NewDict()
			s := wrap(inner)
			defer s.Close()
			vals := [][]byte{bytes.Repeat([]byte("first "), 1000), bytes.Repeat([]byte("second "), 1000), []byte("third")}
			for _, v := range vals {
				if err := s.Append(map[string][]byte{"k": v}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := partd.NewReader(s, "k")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, bytes.Join(vals, nil)) {
				t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(bytes.Join(vals, nil)))
			}
			r.Close()

			// Damage the second frame's compressed bytes.
			raw, _ := inner.Get("k")
			first := 8 + int(binary.LittleEndian.Uint64(raw[0][:8]))
			bad := bytes.Clone(raw[0])
			for i := first + 8 + 2; i < first+8+12; i++ {
				bad[i] ^= 0x5a
			}
			if err := inner.Set("k", bad); err != nil {
				t.Fatal(err)
			}
			r, _ = partd.NewReader(s, "k")
			got, err = io.ReadAll(r)
			if !errors.Is(err, partd.ErrCorrupt) || !bytes.Equal(got, vals[0]) {
				t.Errorf("a damaged second frame: read %d bytes, then %v; want the first value (%d bytes), then ErrCorrupt", len(got), err, len(vals[0]))
			}
			r.Close()

			// A header that claims 2^40 bytes.
			if err := inner.Set("k", binary.LittleEndian.AppendUint64(nil, 1<<40)); err != nil {
				t.Fatal(err)
			}
			r, _ = partd.NewReader(s, "k")
			if _, err := io.ReadAll(r); !errors.Is(err, partd.ErrCorrupt) {
				t.Errorf("a header claiming 2^40 bytes: %v, want ErrCorrupt", err)
			}
			r.Close()
		})
	}
}
