package compress_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/compress"
)

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
