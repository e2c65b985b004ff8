package partdtest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/gopartd/partd"
)

// testReader checks partd.NewReader (a store's own OpenKey, or the
// fallbacks): it reads what Get returns, as an io.Reader should; it reads
// the value a key holds when it is opened, without the bytes appended
// later; and a Delete, Set, Pop or Drop while it reads gives the old value
// or an error wrapping ErrKeyChanged, never a mix.
func testReader(t *testing.T, s partd.Store) {
	rng := rand.New(rand.NewPCG(17, 4))
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(rng.IntN(7)) // compressible, so compression layers store several frames' worth
	}
	for i := 0; i < len(big); i += 100 << 10 {
		must(t, s.Append(map[string][]byte{"r/big": big[i : i+100<<10], "r/small": []byte("hel")}))
		must(t, s.Append(map[string][]byte{"r/small": []byte("lo")}))
	}
	small := []byte("hellohellohello")
	for key, want := range map[string][]byte{"r/big": big, "r/small": small, "r/none": nil, "r": nil} {
		r, err := partd.NewReader(s, key)
		must(t, err)
		if err := iotest.TestReader(r, want); err != nil {
			t.Errorf("reader of %q: %v", key, err)
		}
		must(t, r.Close())
		if _, err := r.Read(make([]byte, 1)); err == nil {
			t.Errorf("Read of %q after Close: no error", key)
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close of the reader of %q: %v", key, err)
		}
	}
	if _, err := partd.NewReader(s, "a//b"); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("NewReader of an invalid key: %v, want ErrInvalidKey", err)
	}

	// Bytes appended after the reader opened are not read.
	r, err := partd.NewReader(s, "r/small")
	must(t, err)
	must(t, s.Append(map[string][]byte{"r/small": []byte(" world")}))
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, small) {
		t.Errorf("reader opened before an append read %q, %v; want %q", got, err, small)
	}
	must(t, r.Close())

	// A change of the key while a reader is half way: the old value, or
	// ErrKeyChanged; never a mix, never the new value.
	other := bytes.Repeat([]byte("new value "), len(big)/10+1)
	changes := map[string]func() error{
		"Delete": func() error { return s.Delete("r/big") },
		"Set":    func() error { return s.Set("r/big", other) },
		"Pop":    func() error { _, err := partd.Pop(s, "r/big"); return err },
		"Drop":   s.Drop,
		"Set then Append": func() error {
			if err := s.Set("r/big", other[:len(big)]); err != nil {
				return err
			}
			return s.Append(map[string][]byte{"r/big": other})
		},
	}
	for name, change := range changes {
		must(t, s.Set("r/big", big))
		r, err := partd.NewReader(s, "r/big")
		must(t, err)
		head := make([]byte, 64<<10)
		if _, err := io.ReadFull(r, head); err != nil {
			t.Fatalf("%s: reading the first %d bytes: %v", name, len(head), err)
		}
		must(t, change())
		rest, err := io.ReadAll(r)
		got := append(head, rest...)
		switch {
		case err == nil && !bytes.Equal(got, big):
			t.Errorf("%s during a read: the reader read %d bytes that are not the old value (%d bytes)", name, len(got), len(big))
		case err != nil && !errors.Is(err, partd.ErrKeyChanged):
			t.Errorf("%s during a read: %v, want the old value or ErrKeyChanged", name, err)
		case err != nil && !bytes.HasPrefix(big, got):
			t.Errorf("%s during a read: %d bytes read before ErrKeyChanged are not the old value's", name, len(got))
		}
		must(t, r.Close())
	}
}
