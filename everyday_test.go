package partd_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopartd/partd"
)

// TestFileSizesReadNothing: File's Sizes takes a key's size from its file
// without reading it: a sparse file of 64 GiB is measured at once, and a
// Get of it would not be.
func TestFileSizesReadNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	must(t, err)
	defer f.Close()
	must(t, f.Append(map[string][]byte{"df/huge": []byte("x"), "small": []byte("12345")}))
	const huge = 64 << 30
	if err := os.Truncate(filepath.Join(dir, "df", "huge"), huge); err != nil {
		t.Fatalf("making a sparse file of 64 GiB: %v", err)
	}
	sizes, err := f.Sizes("df/huge", "small", "df", "missing", "../escape", "")
	must(t, err)
	if !slices.Equal(sizes, []int64{huge, 5, 0, 0, 0, 0}) {
		t.Fatalf("Sizes = %v", sizes)
	}
	if sizes, err := partd.Sizes(f, "df/huge"); err != nil || sizes[0] != huge {
		t.Fatalf("partd.Sizes = %v, %v", sizes, err)
	}
}

// TestFileKeysPrefixEscapedNames: KeysPrefix compares the key parts that
// file names decode to, not the names: an escaped part ("%x%3A1" for
// "x:1") is found by the prefix of its key, and a file no key maps to is
// not listed.
func TestFileKeysPrefixEscapedNames(t *testing.T) {
	dir := t.TempDir()
	f, err := partd.NewFile(dir)
	must(t, err)
	defer f.Close()
	must(t, f.Append(map[string][]byte{"t/x:1": []byte("a"), "t/x2": []byte("b"), "t/.dot": []byte("c"), "t:u/v": []byte("d")}))
	must(t, os.WriteFile(filepath.Join(dir, "t", "x-stray%"), []byte("not a key"), 0o644))
	must(t, os.Symlink(filepath.Join(dir, "t"), filepath.Join(dir, "link")))
	for prefix, want := range map[string][]string{
		"t/x":  {"t/x2", "t/x:1"},
		"t/x:": {"t/x:1"},
		"t/.":  {"t/.dot"},
		"t/":   {"t/.dot", "t/x2", "t/x:1"},
		"t":    {"t/.dot", "t/x2", "t/x:1", "t:u/v"},
		"t:":   {"t:u/v"},
		"t:u/": {"t:u/v"},
		"link": nil, // a symlink is not a directory of keys, as for Keys
		"l":    nil,
		"t/x-": nil,
	} {
		got, err := f.KeysPrefix(prefix)
		must(t, err)
		if !slices.Equal(got, want) {
			t.Errorf("KeysPrefix(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// TestFilePopMovesGeneration: a Pop by one File handle unlinks the key's
// file and moves the generation counter, so another handle that holds the
// file open for appending appends to the key afresh, not to the unlinked
// file.
func TestFilePopMovesGeneration(t *testing.T) {
	dir := t.TempDir()
	a, err := partd.NewFile(dir)
	must(t, err)
	defer a.Close()
	b, err := partd.NewFile(dir)
	must(t, err)
	defer b.Close()
	must(t, a.Append(map[string][]byte{"p/k": []byte("1")}))
	vals, err := b.Pop("p/k")
	must(t, err)
	if string(vals[0]) != "1" {
		t.Fatalf("Pop = %q", vals[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "p")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Pop left the key's directory behind: %v", err)
	}
	must(t, a.Append(map[string][]byte{"p/k": []byte("2")}))
	for _, s := range []*partd.File{a, b} {
		if got, _ := s.Get("p/k"); string(got[0]) != "2" {
			t.Fatalf("after a Pop by another handle: Get = %q, want \"2\"", got[0])
		}
	}
}

// TestLogPopSurvivesReopen: a Log's Pop is one delete record: after a
// reopen the popped keys are gone and the others whole.
func TestLogPopSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	l, err := partd.NewLog(dir)
	must(t, err)
	must(t, l.Append(map[string][]byte{"a": []byte("A"), "b": []byte("B"), "c": []byte("C")}))
	must(t, l.Append(map[string][]byte{"a": []byte("a")}))
	vals, err := l.Pop("a", "c", "a")
	must(t, err)
	if string(vals[0]) != "Aa" || string(vals[1]) != "C" || string(vals[2]) != "Aa" {
		t.Fatalf("Pop = %q", vals)
	}
	if st := l.Stats(); st.Keys != 1 || st.LiveBytes != 1 {
		t.Fatalf("after Pop: %+v", st)
	}
	must(t, l.Close())
	if _, err := l.Pop("b"); !errors.Is(err, partd.ErrClosed) {
		t.Fatalf("Pop after Close: %v", err)
	}
	l, err = partd.NewLog(dir)
	must(t, err)
	defer l.Close()
	keys, err := l.Keys()
	must(t, err)
	if !slices.Equal(keys, []string{"b"}) {
		t.Fatalf("after reopen Keys = %q", keys)
	}
}

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
