package partdtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gopartd/partd"
)

// testCapabilities checks the optional interfaces a store implements
// against what its plain methods say, and the fallbacks of the helpers for
// the ones it does not.
func testCapabilities(t *testing.T, s partd.Store) {
	must(t, s.Append(map[string][]byte{"a": []byte("hello, "), "t/x": []byte("tuple")}))

	// AppendVectors, native or joined: pieces land in order, as one value.
	must(t, partd.AppendVectors(s, []string{"a", "b", "c"}, [][][]byte{
		{[]byte("wor"), []byte("ld")}, {[]byte("b1")}, nil,
	}))
	wantBytes(t, s, "a", "hello, world")
	wantBytes(t, s, "b", "b1")
	wantBytes(t, s, "c", "")
	if err := partd.AppendVectors(s, []string{"d", "d"}, [][][]byte{{[]byte("1")}, {[]byte("2")}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("AppendVectors with a repeated key: %v, want ErrInvalidKey", err)
	}
	if err := partd.AppendVectors(s, []string{"d", "t"}, [][][]byte{{[]byte("1")}, {[]byte("2")}}); !errors.Is(err, partd.ErrInvalidKey) {
		t.Errorf("AppendVectors onto a tuple parent: %v, want ErrInvalidKey", err)
	}
	if err := partd.AppendVectors(s, []string{"d"}, nil); err == nil {
		t.Errorf("AppendVectors with 1 key and 0 values: no error")
	}
	wantBytes(t, s, "d", "") // the rejected batches wrote nothing

	// GetAppend appends after what dst holds, leaves unknown keys alone.
	dst := [][]byte{[]byte(">"), nil, make([]byte, 0, 64)}
	got, err := partd.GetAppend(s, dst, "a", "nope", "b")
	must(t, err)
	if len(got) != 3 || string(got[0]) != ">hello, world" || got[1] != nil || string(got[2]) != "b1" {
		t.Errorf("GetAppend = %q, want [\">hello, world\" nil \"b1\"]", got)
	}
	if _, err := partd.GetAppend(s, make([][]byte, 1), "a", "b"); err == nil {
		t.Errorf("GetAppend with 1 buffer for 2 keys: no error")
	}
	if ga, ok := s.(partd.GetAppender); ok {
		// A buffer with room is filled in place.
		buf := make([]byte, 0, 64)
		got, err := ga.GetAppend([][]byte{buf}, "a")
		must(t, err)
		if &got[0][:1][0] != &buf[:1][0] {
			t.Errorf("GetAppend into a buffer with room allocated a new one")
		}
		// One that must grow keeps its spare capacity.
		small := make([]byte, 1, 4)
		got, err = ga.GetAppend([][]byte{small}, "a")
		must(t, err)
		if spare := cap(got[0]) - len(got[0]); string(got[0][1:]) != "hello, world" || spare < 3 {
			t.Errorf("GetAppend grew to %q with %d spare bytes, want the key's bytes and >= 3 spare", got[0], spare)
		}
	}

	// ViewChunks shows what Get returns.
	want, err := s.Get("a", "nope", "t/x")
	must(t, err)
	must(t, partd.ViewChunks(s, []string{"a", "nope", "t/x"}, func(chunks [][][]byte) error {
		if len(chunks) != 3 {
			t.Fatalf("ViewChunks gave %d keys, want 3", len(chunks))
		}
		for i, c := range chunks {
			if j := bytes.Join(c, nil); !bytes.Equal(j, want[i]) {
				t.Errorf("ViewChunks key %d = %q, Get says %q", i, j, want[i])
			}
		}
		return nil
	}))

	// Flush keeps every byte where Get finds it.
	must(t, partd.Flush(s))
	wantBytes(t, s, "a", "hello, world")
	if n, ok := partd.Size(s); ok && n < 0 {
		t.Errorf("Size = %d", n)
	}
}
