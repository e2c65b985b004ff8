package compress_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
	"github.com/gopartd/partd/partdtest"
)

// layers lists every layer constructor under test.
var layers = []struct {
	name string
	wrap func(partd.Store, ...compress.Option) partd.Store
}{
	{"zstd", compress.Zstd},
	{"snappy", compress.Snappy},
	{"zlib", compress.ZLib},
	{"nested", func(s partd.Store, _ ...compress.Option) partd.Store {
		return compress.Zstd(compress.Snappy(compress.ZLib(s)))
	}},
}

// levels lists layers at other levels, for the tests that check bytes rather
// than store behaviour.
var levels = append([]struct {
	name string
	wrap func(partd.Store, ...compress.Option) partd.Store
}{
	{"zstd-3", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.Zstd(s, compress.WithLevel(3)) }},
	{"zstd-better", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.Zstd(s, compress.WithLevel(7)) }},
	{"zstd-best", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.Zstd(s, compress.WithLevel(19)) }},
	{"zlib-1", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.ZLib(s, compress.WithLevel(1)) }},
	{"zlib-9", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.ZLib(s, compress.WithLevel(9)) }},
	{"zlib-huffman", func(s partd.Store, _ ...compress.Option) partd.Store { return compress.ZLib(s, compress.WithLevel(-2)) }},
}, layers...)

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformanceDict(t *testing.T) {
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			partdtest.Run(t, func(*testing.T) partd.Store { return l.wrap(partd.NewDict()) })
		})
	}
}

// get1 returns key's value through s.
func get1(t testing.TB, s partd.Store, key string) []byte {
	t.Helper()
	vs, err := s.Get(key)
	check(t, err)
	return vs[0]
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestRoundTripShapes(t *testing.T) {
	values := [][]byte{
		[]byte("x"),
		bytes.Repeat([]byte{0}, 1<<20), // maximal ratio
		randBytes(1, 100_000),          // incompressible
		bytes.Repeat([]byte("abc,def,12345\n"), 5000),
		{0, 1, 2, 255},
	}
	for _, l := range levels {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			s := l.wrap(inner)
			defer s.Close()
			var want []byte
			for _, v := range values {
				check(t, s.Append(map[string][]byte{"k": v}))
				want = append(want, v...)
			}
			if got := get1(t, s, "k"); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
			// Compressible input is actually compressed.
			raw := get1(t, inner, "k")
			if len(raw) >= len(want)/2 {
				t.Fatalf("stored %d bytes for %d bytes of mostly compressible input", len(raw), len(want))
			}
		})
	}
}

func TestCloseCascades(t *testing.T) {
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			s := l.wrap(inner)
			check(t, s.Append(map[string][]byte{"a": []byte("1")}))
			check(t, s.Close())
			if _, err := inner.Get("a"); !errors.Is(err, partd.ErrClosed) {
				t.Fatalf("inner Get after the layer's Close: err = %v, want ErrClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := s.Keys(); !errors.Is(err, partd.ErrClosed) {
				t.Fatalf("Keys after Close: err = %v, want ErrClosed", err)
			}
		})
	}
}

func TestConformanceFile(t *testing.T) {
	for _, l := range layers[:3] {
		t.Run(l.name, func(t *testing.T) {
			partdtest.Run(t, func(t *testing.T) partd.Store {
				f, err := partd.NewFile(t.TempDir())
				check(t, err)
				return l.wrap(f)
			})
		})
	}
}

// Layers nest with the write policies in either order.
func TestConformanceBuffer(t *testing.T) {
	partdtest.Run(t, func(t *testing.T) partd.Store {
		f, err := partd.NewFile(t.TempDir())
		check(t, err)
		return partd.NewBuffer(partd.NewDict(), compress.Zstd(f), 1<<10)
	})
}

// Batches and Gets big enough to be spread over goroutines come back whole
// and in order, key by key.
func TestParallelBatch(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			s := l.wrap(partd.NewDict())
			defer s.Close()
			const nkeys, rounds = 97, 3
			want := make(map[string][]byte)
			keys := make([]string, nkeys)
			for r := range rounds {
				batch := make(map[string][]byte)
				for k := range nkeys {
					keys[k] = fmt.Sprintf("k%03d", k)
					v := fmt.Appendf(nil, "<%d:%d>", r, k)
					v = append(v, bytes.Repeat([]byte{byte(k)}, 512*k)...) // 0 to 48 KiB
					if k%5 == 0 {
						v = append(v, randBytes(uint64(k*rounds+r), 3000)...)
					}
					batch[keys[k]] = v
					want[keys[k]] = append(want[keys[k]], v...)
				}
				check(t, s.Append(batch))
			}
			got, err := s.Get(keys...)
			check(t, err)
			for i, k := range keys {
				if !bytes.Equal(got[i], want[k]) {
					t.Fatalf("%s: got %d bytes, want %d", k, len(got[i]), len(want[k]))
				}
			}
		})
	}
}

// A key large enough to be decoded in several parallel runs reports the
// first bad frame, whichever run holds it.
func TestLargeKeyRuns(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, l := range layers[:3] {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			s := l.wrap(inner)
			var want []byte
			var ends []int // end of each frame in the stored bytes
			for i := range 300 {
				v := fmt.Appendf(nil, "value %d:%s", i, bytes.Repeat([]byte{byte(i)}, 4000+i))
				check(t, s.Append(map[string][]byte{"big": v}))
				want = append(want, v...)
				ends = append(ends, len(stored(t, inner, "big")))
			}
			if got := get1(t, s, "big"); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
			raw := stored(t, inner, "big")
			for _, bad := range [][]int{{299}, {150}, {250, 7}} {
				garbled := bytes.Clone(raw)
				for _, b := range bad {
					for i := ends[b-1] + 8; i < ends[b]; i++ {
						garbled[i] ^= 0x55
					}
				}
				check(t, inner.Set("big", garbled))
				_, err := s.Get("big")
				first := bad[len(bad)-1]
				if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("frame %d:", first)) {
					t.Fatalf("frames %v garbled: err = %v, want ErrCorrupt naming frame %d", bad, err, first)
				}
			}
		})
	}
}

// TestLayerSizesAreValueSizes: a layer is no partd.KeySizer, so partd.Sizes
// measures the decoded values, not the smaller frames the inner store
// holds.
func TestLayerSizesAreValueSizes(t *testing.T) {
	for _, l := range layers {
		t.Run(l.name, func(t *testing.T) {
			inner := partd.NewDict()
			z := l.wrap(inner)
			defer z.Close()
			if _, ok := z.(partd.KeySizer); ok {
				t.Fatal("a compression layer is a partd.KeySizer")
			}
			value := bytes.Repeat([]byte("compressible "), 10000)
			check(t, z.Append(map[string][]byte{"k": value}))
			check(t, z.Append(map[string][]byte{"k": value}))
			sizes, err := partd.Sizes(z, "k", "none")
			check(t, err)
			if !slices.Equal(sizes, []int64{2 * int64(len(value)), 0}) {
				t.Fatalf("Sizes = %v, want [%d 0]", sizes, 2*len(value))
			}
			stored, err := inner.Sizes("k")
			check(t, err)
			if stored[0] >= sizes[0] {
				t.Fatalf("the inner store holds %d bytes of %d: not compressed", stored[0], sizes[0])
			}
		})
	}
}

// TestLayerPopDecodes: a layer pops through its inner store's Pop and
// decodes what it popped; its listings are the inner store's.
func TestLayerPopDecodes(t *testing.T) {
	inner := partd.NewDict()
	z := compress.Zstd(inner)
	defer z.Close()
	check(t, z.Append(map[string][]byte{"df/a": []byte("one "), "df/b": []byte("two"), "x": []byte("x")}))
	check(t, z.Append(map[string][]byte{"df/a": []byte("more")}))
	keys, err := partd.KeysPrefix(z, "df/")
	check(t, err)
	if !slices.Equal(keys, []string{"df/a", "df/b"}) {
		t.Fatalf("KeysPrefix = %q", keys)
	}
	vals, err := z.(partd.Popper).Pop("df/a", "df/missing", "df/b")
	check(t, err)
	if string(vals[0]) != "one more" || vals[1] != nil || string(vals[2]) != "two" {
		t.Fatalf("Pop = %q", vals)
	}
	if left, _ := inner.Keys(); !slices.Equal(left, []string{"x"}) {
		t.Fatalf("inner keys after Pop = %q", left)
	}
	// A corrupt key pops as an ErrCorrupt error.
	check(t, inner.Append(map[string][]byte{"bad": []byte("not a frame")}))
	if _, err := partd.Pop(z, "bad"); !errors.Is(err, partd.ErrCorrupt) {
		t.Fatalf("Pop of a corrupt key: %v, want ErrCorrupt", err)
	}
}

// TestLayerPagesOnlyOverAPager: a layer over a File (which pages no keys)
// claims no partd.KeyPager through Unwrap, so All lists the File once.
func TestLayerPagesOnlyOverAPager(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	check(t, err)
	z := compress.Snappy(f)
	defer z.Close()
	check(t, z.Append(map[string][]byte{"a": []byte("1"), "b": []byte("2")}))
	if _, ok := partd.Find[partd.KeyPager](z); ok {
		t.Fatal("a layer over a File claims to page keys")
	}
	var all []string
	for k, err := range partd.All(z, "") {
		check(t, err)
		all = append(all, k)
	}
	if !slices.Equal(all, []string{"a", "b"}) {
		t.Fatalf("All = %q", all)
	}
	d := compress.Snappy(partd.NewDict())
	check(t, d.Append(map[string][]byte{"a": []byte("1"), "b": []byte("2")}))
	if page, err := partd.KeysPage(d, "", "a", 5); err != nil || !slices.Equal(page, []string{"b"}) {
		t.Fatalf("KeysPage over a Dict = %q, %v", page, err)
	}
}
