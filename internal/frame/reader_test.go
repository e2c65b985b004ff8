package frame

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/gopartd/partd/internal/errs"
)

// FuzzReader: a Reader returns the frames Split returns, and where Split
// finds a frame running past the end, the Reader returns the whole frames
// before it and then an ErrCorrupt error, whatever sizes the underlying
// reader's reads have.
func FuzzReader(f *testing.F) {
	f.Add(Append(Append(nil, []byte("hello")), []byte("world")))
	f.Add(Append(nil, nil))
	f.Add(Append(nil, []byte("cut"))[:9])
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		want, n := SplitPrefix(data)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data)), iotest.HalfReader(bytes.NewReader(data))} {
			fr := NewReader(r)
			var got [][]byte
			var err error
			for {
				var b []byte
				if b, err = fr.Next(nil, 1<<20); err != nil {
					break
				}
				got = append(got, b)
			}
			if len(got) != len(want) || fr.Frames() != len(want) {
				t.Fatalf("Reader returned %d frames, SplitPrefix %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d: %q, want %q", i, got[i], want[i])
				}
			}
			switch {
			case n == len(data) && err != io.EOF:
				t.Fatalf("after the last frame: %v, want io.EOF", err)
			case n < len(data) && !errors.Is(err, errs.ErrCorrupt):
				t.Fatalf("a torn frame at byte %d of %d: %v, want ErrCorrupt", n, len(data), err)
			}
		}
	})
}

// TestReaderLimit: a frame longer than the limit is ErrCorrupt, before its
// bytes are read.
func TestReaderLimit(t *testing.T) {
	fr := NewReader(bytes.NewReader(Append(nil, make([]byte, 100))))
	if _, err := fr.Next(nil, 99); !errors.Is(err, errs.ErrCorrupt) {
		t.Fatalf("a 100-byte frame with a limit of 99: %v, want ErrCorrupt", err)
	}
}
