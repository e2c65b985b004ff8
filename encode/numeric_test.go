package encode

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/gopartd/partd"
)

func TestDtypeStrings(t *testing.T) {
	// numpy's dtype(...).str for each type.
	for _, c := range []struct{ got, want string }{
		{Dtype[int8](), "|i1"}, {Dtype[uint8](), "|u1"},
		{Dtype[int16](), "<i2"}, {Dtype[uint16](), "<u2"},
		{Dtype[int32](), "<i4"}, {Dtype[uint32](), "<u4"},
		{Dtype[int64](), "<i8"}, {Dtype[uint64](), "<u8"},
		{Dtype[float32](), "<f4"}, {Dtype[float64](), "<f8"},
	} {
		if c.got != c.want {
			t.Errorf("Dtype = %q, want %q", c.got, c.want)
		}
	}
	type celsius float64
	if got := Dtype[celsius](); got != "<f8" {
		t.Errorf("Dtype[celsius] = %q", got)
	}
	if got, want := Dtype[int](), "<i"+itoa(int(unsafe.Sizeof(0))); got != want {
		t.Errorf("Dtype[int] = %q, want %q", got, want)
	}
}

func TestNumericLayout(t *testing.T) {
	d := partd.NewDict()
	n := Numeric[int32](d)
	must(t, n.Append(map[string][]int32{"a/b": {1, -2}}))
	must(t, n.Append(map[string][]int32{"a/b": {3}}))
	raw, err := d.Get("a/b", "a/b.dtype")
	must(t, err)
	if want := "\x01\x00\x00\x00\xfe\xff\xff\xff\x03\x00\x00\x00"; string(raw[0]) != want {
		t.Fatalf("stored %x, want %x", raw[0], want)
	}
	if string(raw[1]) != "<i4" {
		t.Fatalf("stored dtype %q", raw[1])
	}
	keys, _ := n.Keys()
	if len(keys) != 1 || keys[0] != "a/b" {
		t.Fatalf("Keys() = %q, want [a/b]", keys)
	}
	must(t, n.Delete("a/b"))
	if keys, _ := d.Keys(); len(keys) != 0 {
		t.Fatalf("Delete left %q", keys)
	}
}

func TestNumericErrors(t *testing.T) {
	d := partd.NewDict()
	f := Numeric[float64](d)
	i := Numeric[int64](d)
	must(t, f.Append(map[string][]float64{"x": {1.5}}))
	err := i.Append(map[string][]int64{"x": {1}, "y": {2}})
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "<f8") {
		t.Fatalf("int64 onto <f8: err = %v, want ErrSchema naming the dtype", err)
	}
	if keys, _ := i.Keys(); len(keys) != 1 {
		t.Fatalf("a rejected batch wrote something: %q", keys)
	}
	if _, err := i.Get("x"); !errors.Is(err, ErrSchema) {
		t.Fatalf("Get <f8 as int64: err = %v, want ErrSchema", err)
	}
	// Set replaces the dtype along with the values.
	must(t, i.Set("x", []int64{7}))
	got, err := i.Get("x")
	must(t, err)
	if len(got[0]) != 1 || got[0][0] != 7 {
		t.Fatalf("after Set: %v", got[0])
	}
	must(t, d.Set("torn", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}))
	if _, err := i.Get("torn"); !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), `"torn"`) {
		t.Fatalf("9 bytes as int64: err = %v, want ErrCorrupt naming the key", err)
	}
	// Bytes with no dtype (a writer died between the two) read as N.
	must(t, d.Set("nodtype", []byte{1, 0, 0, 0, 0, 0, 0, 0}))
	if got, err := i.Get("nodtype"); err != nil || got[0][0] != 1 {
		t.Fatalf("no dtype: %v, %v", got, err)
	}
	for _, op := range []func() error{
		func() error { return i.Append(map[string][]int64{"k.dtype": {1}}) },
		func() error { return i.Set("k.dtype", []int64{1}) },
		func() error { _, err := i.Get("k.dtype"); return err },
		func() error { return i.Delete("k.dtype") },
		func() error { return i.Append(map[string][]int64{"a/../b": {1}}) },
	} {
		if err := op(); !errors.Is(err, partd.ErrInvalidKey) {
			t.Errorf("reserved or invalid key: err = %v, want ErrInvalidKey", err)
		}
	}
}

// TestNumericUnaligned checks the copy path when the inner store returns
// bytes that are not aligned for N.
func TestNumericUnaligned(t *testing.T) {
	buf := make([]byte, 17)
	b := buf[1:]
	for i := range b {
		b[i] = byte(i)
	}
	got := numsFrom[uint64](b)
	if got[0] != 0x0706050403020100 || got[1] != 0x0f0e0d0c0b0a0908 {
		t.Fatalf("unaligned decode: %x", got)
	}
	b[0] = 0xff
	if got[0] != 0x0706050403020100 {
		t.Fatal("unaligned decode aliases its input")
	}
}

// rawBytes returns the memory of *p.
func rawBytes[N Number](p *N) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

func TestNumericNothingWrittenOnConflict(t *testing.T) {
	d := partd.NewDict()
	n := Numeric[int64](d)
	if err := n.Append(map[string][]int64{"x": {1}, "x/y": {2}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("x and x/y in one batch: err = %v", err)
	}
	wantInnerKeys(t, d)
	must(t, n.Append(map[string][]int64{"p/q": {1}}))
	for _, batch := range []map[string][]int64{
		{"new": {1}, "p": {2}},     // p is a parent of the stored p/q
		{"new": {1}, "p/q/r": {2}}, // p/q is stored
	} {
		if err := n.Append(batch); !errors.Is(err, partd.ErrInvalidKey) {
			t.Fatalf("%v: err = %v, want ErrInvalidKey", batch, err)
		}
		wantInnerKeys(t, d, "p/q", "p/q.dtype")
	}
	if err := n.Set("p", []int64{1}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("Set(p): err = %v", err)
	}
	wantInnerKeys(t, d, "p/q", "p/q.dtype")
	long := strings.Repeat("k", 250) // fits, but k….dtype does not
	if err := n.Append(map[string][]int64{long: {1}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Fatalf("key without room for .dtype: err = %v", err)
	}
}

func wantInnerKeys(t *testing.T, s partd.Store, want ...string) {
	t.Helper()
	got, err := s.Keys()
	must(t, err)
	if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
		t.Fatalf("inner keys = %q, want %q", got, want)
	}
}
