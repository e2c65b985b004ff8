package compress_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
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

// withOpts lists each algorithm's constructor that takes options.
var withOpts = []struct {
	name string
	mk   func(partd.Store, ...compress.Option) (partd.Store, error)
}{
	{"zstd", compress.NewZstd},
	{"snappy", compress.NewSnappy},
	{"zlib", compress.NewZLib},
}

func TestMaxValueSize(t *testing.T) {
	for _, c := range withOpts {
		t.Run(c.name, func(t *testing.T) {
			inner := partd.NewDict()
			s, err := c.mk(inner, compress.WithMaxValueSize(1000))
			check(t, err)
			check(t, s.Append(map[string][]byte{"ok": make([]byte, 1000)}))
			err = s.Append(map[string][]byte{"big": make([]byte, 1001), "small": []byte("x")})
			if !errors.Is(err, compress.ErrTooLarge) {
				t.Fatalf("Append of 1001 bytes with a 1000-byte limit: err = %v, want ErrTooLarge", err)
			}
			if err := s.Set("big", make([]byte, 1001)); !errors.Is(err, compress.ErrTooLarge) {
				t.Fatalf("Set of 1001 bytes: err = %v, want ErrTooLarge", err)
			}
			keys, err := s.Keys()
			check(t, err)
			if fmt.Sprint(keys) != "[ok]" {
				t.Fatalf("keys after refused writes = %q, want [ok]", keys)
			}
			if got := get1(t, s, "ok"); len(got) != 1000 {
				t.Fatalf("got %d bytes, want 1000", len(got))
			}
			// Bytes written under a larger limit are corrupt to a reader
			// with a smaller one.
			big, err := c.mk(inner)
			check(t, err)
			check(t, big.Append(map[string][]byte{"big": make([]byte, 1001)}))
			if _, err := s.Get("big"); !errors.Is(err, partd.ErrCorrupt) {
				t.Fatalf("Get of a value over the limit: err = %v, want ErrCorrupt", err)
			}
		})
	}
	for _, n := range []int64{0, -1, compress.MaxValueSizeLimit + 1} {
		if err := compress.Err(compress.Zstd(partd.NewDict(), compress.WithMaxValueSize(n))); err == nil {
			t.Errorf("WithMaxValueSize(%d): no error", n)
		}
	}
}

// A bad option is an error of every call, never a panic, and nothing is
// written to the inner store.
func TestBadLevels(t *testing.T) {
	bad := map[string]partd.Store{}
	inner := partd.NewDict()
	for _, lv := range []int{-1, 23, 100} {
		bad[fmt.Sprintf("Zstd(WithLevel(%d))", lv)] = compress.Zstd(inner, compress.WithLevel(lv))
	}
	for _, lv := range []int{-3, 10} {
		bad[fmt.Sprintf("ZLib(WithLevel(%d))", lv)] = compress.ZLib(inner, compress.WithLevel(lv))
	}
	bad["Snappy(WithLevel(1))"] = compress.Snappy(inner, compress.WithLevel(1))
	for name, s := range bad {
		if compress.Err(s) == nil {
			t.Errorf("%s: Err is nil", name)
		}
		if err := s.Append(map[string][]byte{"k": []byte("v")}); err == nil || err.Error() != compress.Err(s).Error() {
			t.Errorf("%s: Append = %v, want the option's error", name, err)
		}
		if _, err := s.Get("k"); err == nil {
			t.Errorf("%s: Get: no error", name)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
	if keys, _ := inner.Keys(); len(keys) != 0 {
		t.Errorf("layers with bad options wrote %q", keys)
	}
	for _, lv := range []int{1, 3, 22} {
		if err := compress.Err(compress.Zstd(inner, compress.WithLevel(lv))); err != nil {
			t.Errorf("Zstd(WithLevel(%d)): %v", lv, err)
		}
	}
	if _, err := (compress.Setting{Algorithm: compress.ZstdAlgorithm, Level: 23}).Wrap(inner); err == nil {
		t.Errorf("Setting zstd:23 wrapped without an error")
	}
}

// TestNewReportsBadOptions: NewZstd, NewSnappy and NewZLib return a bad
// option's error at construction, as zlib.NewWriterLevel does, and the
// store otherwise.
func TestNewReportsBadOptions(t *testing.T) {
	inner := partd.NewDict()
	for name, mk := range map[string]func() (partd.Store, error){
		"NewZstd(WithLevel(23))":          func() (partd.Store, error) { return compress.NewZstd(inner, compress.WithLevel(23)) },
		"NewZstd(WithMaxValueSize(0))":    func() (partd.Store, error) { return compress.NewZstd(inner, compress.WithMaxValueSize(0)) },
		"NewSnappy(WithLevel(1))":         func() (partd.Store, error) { return compress.NewSnappy(inner, compress.WithLevel(1)) },
		"NewZLib(WithLevel(10))":          func() (partd.Store, error) { return compress.NewZLib(inner, compress.WithLevel(10)) },
		"NewZLib(WithMaxValueSize(-1))":   func() (partd.Store, error) { return compress.NewZLib(inner, compress.WithMaxValueSize(-1)) },
		"NewSnappy(WithMaxValueSize(-1))": func() (partd.Store, error) { return compress.NewSnappy(inner, compress.WithMaxValueSize(-1)) },
	} {
		if s, err := mk(); err == nil || s != nil {
			t.Errorf("%s = %v, %v; want nil and the option's error", name, s, err)
		}
	}
	for name, mk := range map[string]func() (partd.Store, error){
		"NewZstd(WithLevel(9))": func() (partd.Store, error) { return compress.NewZstd(inner, compress.WithLevel(9)) },
		"NewSnappy()":           func() (partd.Store, error) { return compress.NewSnappy(inner) },
		"NewZLib(WithLevel(1))": func() (partd.Store, error) { return compress.NewZLib(inner, compress.WithLevel(1)) },
	} {
		s, err := mk()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		check(t, s.Append(map[string][]byte{"k": []byte("v")}))
		if got := get1(t, s, "k"); string(got) != "v" {
			t.Fatalf("%s: k = %q", name, got)
		}
		check(t, s.Delete("k"))
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
