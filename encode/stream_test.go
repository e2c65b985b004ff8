package encode

import (
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// streamStores are the inner stores the typed readers are checked over:
// each reads keys through a reader of its own (a Dict, a File, zstd over
// a File) or the Get fallback (a store with no capabilities).
func streamStores(t *testing.T) map[string]partd.Store {
	f1, err := partd.NewFile(t.TempDir())
	must(t, err)
	f2, err := partd.NewFile(t.TempDir())
	must(t, err)
	return map[string]partd.Store{
		"Dict":     partd.NewDict(),
		"File":     f1,
		"ZstdFile": compress.Zstd(f2),
		"GetOnly":  struct{ partd.Store }{partd.NewDict()},
	}
}

// TestValuesAndPop: Encoded.Values yields a key's appended values one by
// one, in order, their join being what Get returns; Pop returns what Get
// did and deletes the keys; a corrupt frame ends the iteration with
// ErrCorrupt after the values before it.
func TestValuesAndPop(t *testing.T) {
	for name, inner := range streamStores(t) {
		t.Run(name, func(t *testing.T) {
			s := Msgpack[Row](inner)
			defer s.Close()
			var want [][]Row
			for i := range 5 {
				batch := []Row{mkRow(2 * i), mkRow(2*i + 1)}
				want = append(want, batch)
				must(t, s.Append(map[string][]Row{"rows": batch, "other": {mkRow(99)}}))
			}
			var got [][]Row
			for v, err := range s.Values("rows") {
				must(t, err)
				got = append(got, v)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Values yielded %v, want %v", got, want)
			}
			for range s.Values("missing") {
				t.Error("Values of an unknown key yielded a value")
			}
			for v := range s.Values("rows") { // an early break closes the reader
				if !reflect.DeepEqual(v, want[0]) {
					t.Errorf("first value %v, want %v", v, want[0])
				}
				break
			}
			popped, err := s.Pop("rows", "missing")
			must(t, err)
			if len(popped) != 2 || !reflect.DeepEqual(popped[0], slices.Concat(want...)) || popped[1] != nil {
				t.Errorf("Pop = %v", popped)
			}
			if keys, _ := s.Keys(); !slices.Equal(keys, []string{"other"}) {
				t.Errorf("keys after Pop: %v, want [other]", keys)
			}

			// A value, then a frame that is not msgpack.
			must(t, s.Append(map[string][]Row{"bad": {mkRow(1)}}))
			must(t, inner.Append(map[string][]byte{"bad": binary.LittleEndian.AppendUint64(nil, 1)}))
			if name != "ZstdFile" {
				must(t, inner.Append(map[string][]byte{"bad": {0xc1}})) // msgpack's never-used byte
			}
			n := 0
			var last error
			for _, err := range s.Values("bad") {
				if err != nil {
					last = err
					break
				}
				n++
			}
			if n != 1 || !errors.Is(last, partd.ErrCorrupt) {
				t.Errorf("Values of a key with a corrupt second frame: %d values, then %v; want 1, then ErrCorrupt", n, last)
			}
			must(t, s.Close())
			for _, err := range s.Values("other") {
				if !errors.Is(err, partd.ErrClosed) {
					t.Errorf("Values after Close: %v, want ErrClosed", err)
				}
			}
		})
	}
}

// TestArrayValuesAndPop: Array.Values yields a key's numbers in slices of
// at most ValuesBatch bytes whose concatenation is what Get returns; a key
// of another dtype is ErrSchema and a torn element ErrCorrupt; Pop
// returns what Get did and deletes the keys with their dtypes.
func TestArrayValuesAndPop(t *testing.T) {
	for name, inner := range streamStores(t) {
		t.Run(name, func(t *testing.T) {
			s := Numeric[int32](inner)
			defer s.Close()
			want := make([]int32, 3*ValuesBatch/4/4+5)
			for i := range want {
				want[i] = int32(i * 7)
			}
			must(t, s.Append(map[string][]int32{"n": want[:1000]}))
			must(t, s.Append(map[string][]int32{"n": want[1000:]}))
			var got []int32
			batches := 0
			for v, err := range s.Values("n") {
				must(t, err)
				if len(v)*4 > ValuesBatch {
					t.Errorf("a slice of %d int32s, more than ValuesBatch bytes", len(v))
				}
				got = append(got, v...)
				batches++
			}
			if !slices.Equal(got, want) || batches != 1 {
				t.Errorf("Values yielded %d numbers in %d slices, want %d in 1", len(got), batches, len(want))
			}
			for _, err := range Numeric[float64](inner).Values("n") {
				if !errors.Is(err, ErrSchema) {
					t.Errorf("Values with another dtype: %v, want ErrSchema", err)
				}
			}
			if _, err := Numeric[float64](inner).Pop("n"); !errors.Is(err, ErrSchema) {
				t.Errorf("Pop with another dtype: %v, want ErrSchema", err)
			}
			popped, err := s.Pop("n", "missing")
			must(t, err)
			if !slices.Equal(popped[0], want) || popped[1] != nil {
				t.Errorf("Pop returned %d and %d numbers", len(popped[0]), len(popped[1]))
			}
			if keys, _ := inner.Keys(); len(keys) != 0 {
				t.Errorf("keys after Pop: %v", keys)
			}
			if name == "ZstdFile" {
				return
			}
			must(t, inner.Append(map[string][]byte{"torn": {1, 0, 0, 0, 2, 0}}))
			var vals []int32
			var last error
			for v, err := range s.Values("torn") {
				if err != nil {
					last = err
					break
				}
				vals = append(vals, v...)
			}
			if !slices.Equal(vals, []int32{1}) || !errors.Is(last, partd.ErrCorrupt) {
				t.Errorf("Values of a torn key: %v, then %v; want [1], then ErrCorrupt", vals, last)
			}
		})
	}
}
