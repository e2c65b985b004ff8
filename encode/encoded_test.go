package encode

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

func TestTornFrameIsCorruptNamingKey(t *testing.T) {
	d := partd.NewDict()
	m := Msgpack[int64](d)
	must(t, m.Append(map[string][]int64{"k": {1, 2, 3}}))
	raw, _ := d.Get("k")
	for _, bad := range [][]byte{
		raw[0][:len(raw[0])-1],                                 // last frame cut short
		append(raw[0], 1, 2, 3),                                // a partial header after the frames
		frame.Append(nil, []byte{0x93, 1, 2})[:10],             // header claims more than there is
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x90}, // 2^64-1 bytes claimed
	} {
		must(t, d.Set("k", bad))
		_, err := m.Get("ok-key", "k")
		if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("Get of %x: err = %v, want ErrCorrupt naming \"k\"", bad, err)
		}
	}
}

// failCodec fails to encode values whose first element is negative and to
// decode frames that start with "!".
type failCodec struct{}

func (failCodec) Encode(v []int) ([]byte, error) {
	if len(v) > 0 && v[0] < 0 {
		return nil, errors.New("negative")
	}
	return fmt.Appendf(nil, "%d", len(v)), nil
}

func (failCodec) Decode(b []byte) ([]int, error) {
	if strings.HasPrefix(string(b), "!") {
		return nil, errors.New("bang")
	}
	return make([]int, len(b)), nil
}

func (failCodec) Join(p [][]int) []int { return joinSlices(p) }

func TestCodecErrors(t *testing.T) {
	for _, n := range []int{1, 100} { // sequential and parallel encoding
		d := partd.NewDict()
		e := New[[]int](d, failCodec{})
		batch := map[string][]int{}
		for i := range n {
			batch[fmt.Sprint("k", i)] = []int{i}
		}
		batch["k0"] = []int{-1}
		err := e.Append(batch)
		if err == nil || !strings.Contains(err.Error(), "negative") || !strings.Contains(err.Error(), `"k0"`) {
			t.Fatalf("batch of %d: err = %v, want the encoder's error naming the key", n, err)
		}
		if keys, _ := d.Keys(); len(keys) != 0 {
			t.Fatalf("a failed batch wrote %q", keys)
		}
		must(t, d.Set("bad", frame.Append(nil, []byte("!x"))))
		if _, err := e.Get("bad"); !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), "bang") {
			t.Fatalf("decode failure: err = %v, want ErrCorrupt wrapping the codec's error", err)
		}
	}
}

func TestInvalidKeyBeforeEncoding(t *testing.T) {
	e := New[[]int](partd.NewDict(), failCodec{})
	// The value would fail to encode, but the key is checked first.
	if err := e.Append(map[string][]int{"a/../b": {-1}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("err = %v, want ErrInvalidKey", err)
	}
	if err := e.Set("", []int{1}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set: err = %v, want ErrInvalidKey", err)
	}
}

func TestParallelEncodeMatchesSequential(t *testing.T) {
	batch := map[string][]Row{}
	for i := range 200 {
		batch[fmt.Sprint("k", i)] = []Row{mkRow(i), mkRow(i + 1)}
	}
	batch["empty"] = nil
	enc := Msgpack[Row](nil).encodeFrame
	seq, err := encodeBatchAfter(batch, enc, 1, 0)
	must(t, err)
	for _, after := range []time.Duration{0, time.Nanosecond, time.Hour} {
		par, err := encodeBatchAfter(batch, enc, 4, after)
		must(t, err)
		if len(par) != len(seq) || len(par) != 200 {
			t.Fatalf("after %v: %d encodings, want %d", after, len(par), len(seq))
		}
		for k, v := range seq {
			if !bytes.Equal(par[k], v) {
				t.Fatalf("after %v, %s: parallel and sequential encodings differ", after, k)
			}
		}
	}
	// A failing value stops the batch with its error, in parallel too.
	ints := map[string][]int{}
	for i := range 100 {
		ints[fmt.Sprint("k", i)] = []int{i}
	}
	ints["k50"] = []int{-1}
	fenc := New[[]int](nil, failCodec{}).encodeFrame
	if _, err := encodeBatchAfter(ints, fenc, 4, 0); err == nil || !strings.Contains(err.Error(), `"k50"`) {
		t.Fatalf("parallel encode error = %v", err)
	}
}

func TestCloseCascades(t *testing.T) {
	d := partd.NewDict()
	must(t, Msgpack[int](d).Close())
	if _, err := d.Keys(); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("inner store after Close: err = %v, want ErrClosed", err)
	}
	d = partd.NewDict()
	must(t, Numeric[int](d).Close())
	if _, err := d.Keys(); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Numeric: inner store after Close: err = %v, want ErrClosed", err)
	}
	d = partd.NewDict()
	must(t, NewColumns(d).Close())
	if _, err := d.Keys(); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Columns: inner store after Close: err = %v, want ErrClosed", err)
	}
}
