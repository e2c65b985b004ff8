package partd_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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
