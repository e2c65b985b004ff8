package partd_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// TestBufferPopAcrossStores: a key whose bytes are partly spilled to the
// slow store and partly in the fast one pops whole, in order, and the
// Buffer's count of fast bytes drops with it.
func TestBufferPopAcrossStores(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	must(t, err)
	b := partd.NewBuffer(partd.NewDict(), f, 100)
	defer b.Close()
	var want strings.Builder
	for i := range 30 {
		v := fmt.Sprintf("<%02d>", i)
		want.WriteString(v)
		must(t, b.Append(map[string][]byte{"k": []byte(v), fmt.Sprint("other", i%3): []byte(v)}))
	}
	sizes, err := b.Sizes("k", "other0", "none")
	must(t, err)
	if sizes[0] != 120 || sizes[1] != 40 || sizes[2] != 0 {
		t.Fatalf("Sizes = %v", sizes)
	}
	fs, err := f.Sizes("k")
	must(t, err)
	if fs[0] == 0 || fs[0] == 120 {
		t.Fatalf("the test wants k split between the stores; the File holds %d bytes of it", fs[0])
	}
	before, inFast := b.Size(), 120-fs[0]
	vals, err := b.Pop("k")
	must(t, err)
	if string(vals[0]) != want.String() {
		t.Fatalf("Pop = %q, want %q", vals[0], want.String())
	}
	if fs, _ := f.Sizes("k"); fs[0] != 0 {
		t.Fatalf("the File still holds %d bytes of k", fs[0])
	}
	if b.Size() != before-inFast {
		t.Fatalf("the buffer counts %d fast bytes after popping %d of %d, want %d", b.Size(), inFast, before, before-inFast)
	}
	keys, err := b.Keys()
	must(t, err)
	if slices.Contains(keys, "k") {
		t.Fatalf("k still listed: %q", keys)
	}
	// The key may become a tuple parent now.
	must(t, b.Append(map[string][]byte{"k/x": []byte("x")}))
}

// TestBufferOverFileListsOnce: a Buffer over a File pages no keys itself
// (a File lists a directory per call), so All lists them with one
// KeysPrefix, and KeysPage still answers through the fallback.
func TestBufferOverFileListsOnce(t *testing.T) {
	f, err := partd.NewFile(t.TempDir())
	must(t, err)
	b := partd.NewBuffer(partd.NewDict(), f, 10)
	defer b.Close()
	must(t, b.Append(map[string][]byte{"a": []byte("spilled..."), "b": []byte("1")}))
	must(t, b.Append(map[string][]byte{"c": []byte("2")}))
	if _, err := b.KeysPage("", "", 10); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Buffer(Dict, File).KeysPage: %v, want ErrUnsupported", err)
	}
	page, err := partd.KeysPage(b, "", "a", 1)
	must(t, err)
	if !slices.Equal(page, []string{"b"}) {
		t.Fatalf("KeysPage = %q", page)
	}
	var all []string
	for k, err := range partd.All(b, "") {
		must(t, err)
		all = append(all, k)
	}
	if !slices.Equal(all, []string{"a", "b", "c"}) {
		t.Fatalf("All = %q", all)
	}
}
