package osfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPopulate maps a file past its end, as the Log maps its active
// segment: filling in the page tables of what the file holds works and
// reads its bytes; a range past the file's end, or a file shortened under
// the mapping, is an error, not a SIGBUS.
func TestPopulate(t *testing.T) {
	if !MmapSupported {
		t.Skip("no mmap here")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := bytes.Repeat([]byte("partd"), 3<<20/5) // about 3 MiB
	if _, err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	m, err := Mmap(f, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer Munmap(m)
	err = Populate(m[:2<<20])
	if !CanPopulate {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("Populate where it cannot: %v, want ErrUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Populate within the file: %v", err)
	}
	if !bytes.Equal(m[:len(want)], want) {
		t.Fatal("the mapping differs from the file")
	}
	if err := Populate(m[2<<20 : 4<<20]); err == nil {
		t.Fatal("Populate past the file's end: nil error")
	}
	if err := Populate(m[2<<20 : len(want)]); err != nil {
		t.Fatalf("Populate up to the file's end: %v", err)
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := Populate(m[:2<<20]); err == nil {
		t.Fatal("Populate of a file shortened under the mapping: nil error")
	}
}
