package errorfs

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

func TestWritesFailAfterLimit(t *testing.T) {
	var inj Injector
	var buf bytes.Buffer
	w := inj.Writer(&buf)
	inj.FailWritesAfter(5, syscall.ENOSPC)
	if n, err := w.Write([]byte("abc")); n != 3 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	if n, err := w.Write([]byte("defg")); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("crossing write: %d, %v; want 2 and ENOSPC", n, err)
	}
	if n, err := w.Write([]byte("h")); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write on a full disk: %d, %v", n, err)
	}
	if buf.String() != "abcde" {
		t.Fatalf("written %q", buf.String())
	}
	inj.Heal()
	if _, err := w.Write([]byte("!")); err != nil || buf.String() != "abcde!" {
		t.Fatalf("after Heal: %v, %q", err, buf.String())
	}
	inj.FailSync(syscall.EIO)
	called := false
	if err := inj.Sync(func() error { called = true; return nil }); !errors.Is(err, syscall.EIO) || called {
		t.Fatalf("Sync: %v, called %v", err, called)
	}
	var none *Injector
	if err := none.Sync(func() error { return nil }); err != nil || none.Writer(&buf) != &buf {
		t.Fatal("a nil Injector injects")
	}
}
