package compress_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
)

// fuzzMax is the value size limit the fuzz targets read with, so that no
// input can make a Get allocate much.
const fuzzMax = 1 << 20

// fuzzSeeds returns stored bytes that the layer made by mk writes, whole and
// torn, for the corpus.
func fuzzSeeds(f *testing.F, mk func(partd.Store, ...compress.Option) (partd.Store, error)) {
	values := [][]byte{
		[]byte("a"),
		[]byte("hello, hello, hello, hello"),
		bytes.Repeat([]byte{0}, 5000),
		randBytes(3, 300),
		bytes.Repeat([]byte("12,alice,Oslo,3.50,true\n"), 50),
	}
	for i := range values {
		inner := partd.NewDict()
		s, err := mk(inner)
		if err != nil {
			f.Fatal(err)
		}
		for _, v := range values[:i+1] {
			if err := s.Append(map[string][]byte{"k": v}); err != nil {
				f.Fatal(err)
			}
		}
		raw := get1(f, inner, "k")
		f.Add(raw)
		f.Add(raw[:len(raw)-1])
	}
}

// fuzzDecode stores data as a key's raw bytes and reads it through the
// layer: Get must return nil or ErrCorrupt, and agree with Salvage and
// with the layer's reader (partd.NewReader).
func fuzzDecode(f *testing.F, mk func(partd.Store, ...compress.Option) (partd.Store, error)) {
	fuzzSeeds(f, mk)
	f.Fuzz(func(t *testing.T, data []byte) {
		inner := partd.NewDict()
		s, err := mk(inner, compress.WithMaxValueSize(fuzzMax))
		if err != nil {
			t.Fatal(err)
		}
		if err := inner.Set("k", data); err != nil {
			t.Fatal(err)
		}
		vs, err := s.Get("k")
		if err != nil && !errors.Is(err, partd.ErrCorrupt) {
			t.Fatalf("Get: err = %v, want nil or ErrCorrupt", err)
		}
		v, dropped, serr := compress.Salvage(s, "k")
		if serr != nil {
			t.Fatalf("Salvage: %v", serr)
		}
		if err == nil {
			if dropped != 0 || !bytes.Equal(v, vs[0]) {
				t.Fatalf("Get succeeded with %d bytes but Salvage returned %d bytes, dropped %d", len(vs[0]), len(v), dropped)
			}
			if len(vs[0]) > (len(data)/8+1)*fuzzMax {
				t.Fatalf("decoded %d bytes from %d", len(vs[0]), len(data))
			}
		} else if dropped == 0 {
			t.Fatalf("Get failed (%v) but Salvage dropped nothing", err)
		}
		r, rerr := partd.NewReader(s, "k")
		if rerr != nil {
			t.Fatalf("NewReader: %v", rerr)
		}
		defer r.Close()
		read, rerr := io.ReadAll(r)
		switch {
		case err == nil && (rerr != nil || !bytes.Equal(read, vs[0])):
			t.Fatalf("Get returned %d bytes, the reader %d and %v", len(vs[0]), len(read), rerr)
		case err != nil && !errors.Is(rerr, partd.ErrCorrupt):
			t.Fatalf("Get failed (%v), the reader: %v", err, rerr)
		}
	})
}

func FuzzZstdDecode(f *testing.F) {
	fuzzDecode(f, compress.NewZstd)
}

func FuzzSnappyDecode(f *testing.F) { fuzzDecode(f, compress.NewSnappy) }

func FuzzZLibDecode(f *testing.F) {
	fuzzDecode(f, compress.NewZLib)
}

// Stored bytes that claim or hold far more than the limit are refused before
// the reader allocates for them.
func TestHostileSizesAllocateLittle(t *testing.T) {
	const limit = 1 << 20
	// A real 64 MiB value, refused by a reader limited to 1 MiB: a bomb.
	bomb := make([]byte, 64<<20)
	for _, c := range withOpts {
		t.Run(c.name, func(t *testing.T) {
			inner := partd.NewDict()
			w, err := c.mk(inner)
			check(t, err)
			check(t, w.Set("bomb", bomb))
			r, err := c.mk(inner, compress.WithMaxValueSize(limit))
			check(t, err)
			n := partdtest.Allocated(func() {
				if _, err := r.Get("bomb"); !errors.Is(err, partd.ErrCorrupt) {
					t.Errorf("Get of a 64 MiB value with a 1 MiB limit: err = %v, want ErrCorrupt", err)
				}
			})
			// Some MiB for the reader and the output it grows up to the
			// limit, nothing like the bomb's 64.
			if n > 8*limit {
				t.Fatalf("refusing a %d-byte bomb allocated %d bytes", len(bomb), n)
			}
		})
	}
	// Headers that claim sizes their few bytes cannot hold.
	for name, tc := range map[string]struct {
		mk  func(partd.Store, ...compress.Option) partd.Store
		raw []byte
	}{
		// zstd magic, single segment with an 8-byte content size of 1 GiB - 1.
		"zstd": {compress.Zstd, append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0xe4, 0xff, 0xff, 0xff, 0x3f, 0, 0, 0, 0}, make([]byte, 20)...)},
		// snappy varint length 1 GiB - 1, then one literal.
		"snappy": {compress.Snappy, []byte{0xff, 0xff, 0xff, 0xff, 0x03, 0x00, 'x'}},
	} {
		inner := partd.NewDict()
		s := tc.mk(inner)
		frames := bytes.Repeat(framed(tc.raw), 100)
		check(t, inner.Set("k", frames))
		n := partdtest.Allocated(func() {
			if _, err := s.Get("k"); !errors.Is(err, partd.ErrCorrupt) {
				t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
			}
		})
		if n > 1<<20 {
			t.Fatalf("%s: 100 frames claiming 1 GiB each made Get allocate %d bytes", name, n)
		}
	}
}

// framed returns b as one frame.
func framed(b []byte) []byte {
	var h [8]byte
	h[0], h[1], h[2], h[3] = byte(len(b)), byte(len(b)>>8), byte(len(b)>>16), byte(len(b)>>24)
	return append(h[:], b...)
}
