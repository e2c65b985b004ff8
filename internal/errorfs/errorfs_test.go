package errorfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/gopartd/partd/internal/osfile"
)

func TestWritesFailAfterLimit(t *testing.T) {
	var inj Injector
	fs := Wrap(osfile.Default, &inj)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	contents := func() string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	inj.FailWritesAfter(5, syscall.ENOSPC)
	if n, err := fs.WriteAt(f, []byte("abc"), 0); n != 3 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	if err := fs.Pwritev(f, [][]byte{[]byte("de"), []byte("fg")}, 3); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("crossing write: %v; want ENOSPC", err)
	}
	if n, err := fs.WriteAt(f, []byte("h"), 5); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %d, %v", n, err)
	}
	if got := contents(); got != "abcde" {
		t.Fatalf("written %q, want the bytes that fit", got)
	}
	inj.FailTruncate(syscall.EIO)
	if err := fs.Truncate(f, 3); !errors.Is(err, syscall.EIO) || contents() != "abcde" {
		t.Fatalf("Truncate: %v", err)
	}
	inj.Heal()
	if n, err := fs.WriteAt(f, []byte("!"), 5); n != 1 || err != nil || contents() != "abcde!" {
		t.Fatalf("after Heal: %d, %v, %q", n, err, contents())
	}
	inj.FailSync(syscall.EIO)
	if err := fs.SyncFile(f); !errors.Is(err, syscall.EIO) {
		t.Fatalf("SyncFile: %v", err)
	}
	inj.Heal()
	if err := fs.SyncFile(f); err != nil {
		t.Fatalf("SyncFile after Heal: %v", err)
	}
}
