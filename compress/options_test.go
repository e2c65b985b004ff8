package compress_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

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
