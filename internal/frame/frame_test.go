package frame

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gopartd/partd/internal/errs"
)

func TestRoundTripAndTornTail(t *testing.T) {
	values := [][]byte{[]byte("a"), {}, bytes.Repeat([]byte("xyz"), 1000), {0, 0, 0, 0, 0, 0, 0, 0}}
	var data []byte
	for _, v := range values {
		data = Append(data, v)
	}
	frames, err := Split(data)
	if err != nil || len(frames) != len(values) {
		t.Fatalf("Split: %d frames, %v", len(frames), err)
	}
	for i := range values {
		if !bytes.Equal(frames[i], values[i]) {
			t.Fatalf("frame %d = %q, want %q", i, frames[i], values[i])
		}
	}
	whole := len(data)
	for cut := 1; cut < len(values[3])+HeaderLen; cut++ {
		torn := data[:whole-cut]
		if _, err := Split(torn); !errors.Is(err, errs.ErrCorrupt) {
			t.Fatalf("cut %d: err = %v, want ErrCorrupt", cut, err)
		}
		kept, n := SplitPrefix(torn)
		if len(kept) != 3 || n != whole-len(values[3])-HeaderLen {
			t.Fatalf("cut %d: prefix of %d frames, %d bytes", cut, len(kept), n)
		}
	}
}

// FuzzSplit: any bytes split without panic or huge allocation, and the
// whole frames re-encode to exactly the prefix SplitPrefix reports.
func FuzzSplit(f *testing.F) {
	f.Add(Append(Append(nil, []byte("hello")), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, n := SplitPrefix(data)
		var again []byte
		for _, fr := range frames {
			again = Append(again, fr)
		}
		if !bytes.Equal(again, data[:n]) {
			t.Fatalf("re-encoded prefix differs")
		}
		if _, err := Split(data); (err == nil) != (n == len(data)) {
			t.Fatalf("Split error %v with prefix %d of %d", err, n, len(data))
		}
	})
}
