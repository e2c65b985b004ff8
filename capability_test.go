package partd_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

// wrapper is the smallest partd.Wrapper: it adds nothing to the store it
// wraps but Unwrap.
type wrapper struct{ partd.Store }

func (w wrapper) Unwrap() partd.Store { return w.Store }

// TestFind: Find walks Unwrap until a store has the capability, and stops
// at a store that wraps nothing.
func TestFind(t *testing.T) {
	d := partd.NewDict()
	if got, ok := partd.Find[*partd.Dict](wrapper{wrapper{d}}); !ok || got != d {
		t.Fatalf("Find through two wrappers = %v, %v", got, ok)
	}
	if _, ok := partd.Find[partd.Sizer](struct{ partd.Store }{d}); ok {
		t.Fatal("Find went through a store that is no Wrapper")
	}
	if _, ok := partd.Find[partd.Sizer](wrapper{nil}); ok {
		t.Fatal("Find found something under a nil Unwrap")
	}
}

// TestCapabilitiesThroughWrappers: each helper through compression layers
// (and the bare wrapper above) answers as the store under them does for
// the capabilities about keys and the store, never claims one the inner
// store lacks, and keeps the capabilities about values to the layer.
func TestCapabilitiesThroughWrappers(t *testing.T) {
	newFile := func(t *testing.T) *partd.File {
		f, err := partd.NewFile(t.TempDir())
		must(t, err)
		return f
	}
	t.Run("Size", func(t *testing.T) {
		z := compress.Zstd(newFile(t))
		defer z.Close()
		if n, ok := partd.Size(z); ok {
			t.Fatalf("Size(Zstd(File)) = %d, true; a File holds nothing in memory", n)
		}
		b := partd.NewBuffer(partd.NewDict(), partd.NewDict(), 1<<20)
		z = compress.Snappy(wrapper{b})
		defer z.Close()
		must(t, z.Append(map[string][]byte{"k": bytes.Repeat([]byte("x"), 1000)}))
		if n, ok := partd.Size(z); !ok || n != b.Size() || n == 0 {
			t.Fatalf("Size(Snappy(Buffer)) = %d, %v; the Buffer holds %d", n, ok, b.Size())
		}
	})
	t.Run("Flush and BufferStatsOf", func(t *testing.T) {
		slow := partd.NewDict()
		b := partd.NewBuffer(partd.NewDict(), slow, 1<<20)
		z := compress.Zstd(compress.ZLib(b))
		defer z.Close()
		must(t, z.Append(map[string][]byte{"k": []byte("v")}))
		if st, ok := partd.BufferStatsOf(z); !ok || st != b.Stats() {
			t.Fatalf("BufferStatsOf(Zstd(ZLib(Buffer))) = %+v, %v; want %+v", st, ok, b.Stats())
		}
		must(t, partd.Flush(z))
		if b.Size() != 0 || slow.Size() == 0 {
			t.Fatalf("Flush through two layers left %d bytes in the Buffer's memory", b.Size())
		}
		f := compress.Zstd(newFile(t))
		defer f.Close()
		must(t, partd.Flush(f))
		if _, ok := partd.BufferStatsOf(f); ok {
			t.Fatal("BufferStatsOf(Zstd(File)) found a Buffer")
		}
	})
	t.Run("listing", func(t *testing.T) {
		d := &pageCounter{Dict: partd.NewDict()}
		z := compress.Snappy(d)
		defer z.Close()
		must(t, z.Append(map[string][]byte{"a/1": []byte("1"), "a/2": []byte("2"), "b": []byte("3")}))
		if p, err := partd.KeysPage(z, "a/", "a/1", 5); err != nil || !slices.Equal(p, []string{"a/2"}) || d.pages != 1 {
			t.Fatalf("KeysPage(Snappy(Dict)) = %q, %v after %d pages of the Dict", p, err, d.pages)
		}
		if k, err := partd.KeysPrefix(z, "a/"); err != nil || !slices.Equal(k, []string{"a/1", "a/2"}) {
			t.Fatalf("KeysPrefix(Snappy(Dict)) = %q, %v", k, err)
		}
		// A File pages no keys: All lists it once, through the fallback.
		f := compress.Snappy(newFile(t))
		defer f.Close()
		must(t, f.Append(map[string][]byte{"a": []byte("1"), "b": []byte("2")}))
		if _, ok := partd.Find[partd.KeyPager](f); ok {
			t.Fatal("Snappy(File) claims to page keys")
		}
		var all []string
		for k, err := range partd.All(f, "") {
			must(t, err)
			all = append(all, k)
		}
		if p, err := partd.KeysPage(f, "", "a", 5); err != nil || !slices.Equal(p, []string{"b"}) || !slices.Equal(all, []string{"a", "b"}) {
			t.Fatalf("All(Snappy(File)) = %q; KeysPage = %q, %v", all, p, err)
		}
	})
	t.Run("values stay the layer's", func(t *testing.T) {
		d := partd.NewDict()
		z := compress.Zstd(d)
		defer z.Close()
		value := bytes.Repeat([]byte("compressible "), 1000)
		must(t, partd.AppendVectors(z, []string{"k"}, [][][]byte{{value[:7], value[7:]}}))
		got, err := partd.GetAppend(z, [][]byte{[]byte(">")}, "k")
		must(t, err)
		if string(got[0]) != ">"+string(value) {
			t.Fatalf("GetAppend(Zstd(Dict)) = %d bytes", len(got[0]))
		}
		must(t, partd.ViewChunks(z, []string{"k"}, func(c [][][]byte) error {
			if !bytes.Equal(bytes.Join(c[0], nil), value) {
				t.Fatalf("ViewChunks(Zstd(Dict)) shows the frames, not the value")
			}
			return nil
		}))
		if s, err := partd.Sizes(z, "k"); err != nil || s[0] != int64(len(value)) {
			t.Fatalf("Sizes(Zstd(Dict)) = %v, %v; want the value's size %d", s, err, len(value))
		}
		if stored := d.Size(); stored >= int64(len(value)) {
			t.Fatalf("the Dict holds %d bytes of a %d-byte value: not compressed", stored, len(value))
		}
		if v, err := partd.Pop(z, "k"); err != nil || !bytes.Equal(v[0], value) {
			t.Fatalf("Pop(Zstd(Dict)) = %d bytes, %v", len(v[0]), err)
		}
	})
}

// pageCounter is a real Dict that counts the pages it is asked for.
type pageCounter struct {
	*partd.Dict
	pages int
}

func (p *pageCounter) KeysPage(prefix, after string, limit int) ([]string, error) {
	p.pages++
	return p.Dict.KeysPage(prefix, after, limit)
}

// TestAllPagesManyKeys: All walks more keys than fit in a page, in pages,
// in order, each key once.
func TestAllPagesManyKeys(t *testing.T) {
	d := &pageCounter{Dict: partd.NewDict()}
	batch := make(map[string][]byte)
	const n = 40000
	for i := range n {
		batch[fmt.Sprintf("t/%06d", i)] = []byte{1}
	}
	batch["u"] = []byte{1}
	must(t, d.Append(batch))
	i := 0
	for k, err := range partd.All(d, "t/") {
		must(t, err)
		if want := fmt.Sprintf("t/%06d", i); k != want {
			t.Fatalf("key %d = %q, want %q", i, k, want)
		}
		i++
	}
	if i != n || d.pages != 3 {
		t.Fatalf("All yielded %d keys in %d pages, want %d in 3", i, d.pages, n)
	}
	// Breaking out asks for no further page.
	d.pages = 0
	for range partd.All(d, "") {
		break
	}
	if d.pages != 1 {
		t.Fatalf("an iteration stopped at once asked for %d pages", d.pages)
	}
}

// TestCapabilityFallbacks: a store with none of the capabilities gets the
// helpers' fallbacks, and a method that reports errors.ErrUnsupported is
// fallen back from.
func TestCapabilityFallbacks(t *testing.T) {
	var plain partd.Store = struct{ partd.Store }{partd.NewDict()}
	must(t, plain.Append(map[string][]byte{"a/1": []byte("xy"), "a/2": []byte("z"), "b": []byte("bbb")}))
	sizes, err := partd.Sizes(plain, "a/1", "b", "nope")
	must(t, err)
	if !slices.Equal(sizes, []int64{2, 3, 0}) {
		t.Fatalf("Sizes = %v", sizes)
	}
	keys, err := partd.KeysPrefix(plain, "a/")
	must(t, err)
	if !slices.Equal(keys, []string{"a/1", "a/2"}) {
		t.Fatalf("KeysPrefix = %q", keys)
	}
	vals, err := partd.Pop(plain, "a/1")
	must(t, err)
	if string(vals[0]) != "xy" {
		t.Fatalf("Pop = %q", vals)
	}
	unsupported := unsupportedStore{partd.NewDict()}
	must(t, unsupported.Append(map[string][]byte{"k": []byte("v")}))
	if s, err := partd.Sizes(unsupported, "k"); err != nil || s[0] != 1 {
		t.Fatalf("Sizes over ErrUnsupported = %v, %v", s, err)
	}
	if k, err := partd.KeysPrefix(unsupported, ""); err != nil || !slices.Equal(k, []string{"k"}) {
		t.Fatalf("KeysPrefix over ErrUnsupported = %q, %v", k, err)
	}
	for k, err := range partd.All(unsupported, "") {
		if err != nil || k != "k" {
			t.Fatalf("All over ErrUnsupported = %q, %v", k, err)
		}
	}
	if p, err := partd.KeysPage(unsupported, "", "", 5); err != nil || !slices.Equal(p, []string{"k"}) {
		t.Fatalf("KeysPage over ErrUnsupported = %q, %v", p, err)
	}
	must(t, partd.AppendVectors(unsupported, []string{"k"}, [][][]byte{{[]byte("w"), []byte("x")}}))
	if g, err := partd.GetAppend(unsupported, [][]byte{[]byte(">")}, "k"); err != nil || string(g[0]) != ">vwx" {
		t.Fatalf("AppendVectors and GetAppend over ErrUnsupported = %q, %v", g, err)
	}
	must(t, partd.ViewChunks(unsupported, []string{"k"}, func(c [][][]byte) error {
		if len(c) != 1 || string(bytes.Join(c[0], nil)) != "vwx" {
			t.Fatalf("ViewChunks over ErrUnsupported = %q", c)
		}
		return nil
	}))
	if err := partd.Flush(unsupported); err != nil {
		t.Fatalf("Flush over ErrUnsupported = %v", err)
	}
	if v, err := partd.Pop(unsupported, "k"); err != nil || string(v[0]) != "vwx" {
		t.Fatalf("Pop over ErrUnsupported = %q, %v", v, err)
	}
}

// unsupportedStore has every capability, and every one says it is not
// supported after all.
type unsupportedStore struct{ partd.Store }

func (unsupportedStore) Sizes(...string) ([]int64, error) { return nil, errors.ErrUnsupported }
func (unsupportedStore) KeysPrefix(string) ([]string, error) {
	return nil, errors.ErrUnsupported
}
func (unsupportedStore) KeysPage(string, string, int) ([]string, error) {
	return nil, errors.ErrUnsupported
}
func (unsupportedStore) Pop(...string) ([][]byte, error) { return nil, errors.ErrUnsupported }
func (unsupportedStore) AppendVectors([]string, [][][]byte) error {
	return errors.ErrUnsupported
}
func (unsupportedStore) GetAppend([][]byte, ...string) ([][]byte, error) {
	return nil, errors.ErrUnsupported
}
func (unsupportedStore) ViewChunks([]string, func([][][]byte) error) error {
	return errors.ErrUnsupported
}
func (unsupportedStore) Flush() error { return errors.ErrUnsupported }
