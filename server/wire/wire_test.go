package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/server/wire"
)

func TestErrorMapsToSentinels(t *testing.T) {
	for code, sentinel := range map[string]error{
		wire.CodeInvalidKey: partd.ErrInvalidKey,
		wire.CodeCorrupt:    partd.ErrCorrupt,
		wire.CodeClosed:     partd.ErrClosed,
	} {
		err := fmt.Errorf("context: %w", &wire.Error{Code: code, Message: "m"})
		if !errors.Is(err, sentinel) {
			t.Errorf("code %s does not match %v", code, sentinel)
		}
		if got := wire.CodeOf(sentinel); got != code {
			t.Errorf("CodeOf(%v) = %s, want %s", sentinel, got, code)
		}
		if got := wire.CodeOf(err); got != code {
			t.Errorf("CodeOf(wrapped) = %s, want %s", got, code)
		}
	}
	other := &wire.Error{Code: wire.CodeBadRequest, Message: "m"}
	if errors.Is(other, partd.ErrInvalidKey) || other.Unwrap() != nil {
		t.Error("bad-request matches a sentinel")
	}
	if wire.CodeOf(errors.New("x")) != wire.CodeInternal {
		t.Error("plain error is not internal")
	}
}

func TestTupleKeys(t *testing.T) {
	for py, key := range map[string]string{"a": "a", "a-|-b": "a/b", "a-|-b-|-c": "a/b/c", "x/y": "x/y"} {
		if got := wire.FromPython(py); got != key {
			t.Errorf("FromPython(%q) = %q, want %q", py, got, key)
		}
	}
	if got := wire.ToPython("a/b/c"); got != "a-|-b-|-c" {
		t.Errorf("ToPython = %q", got)
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add(wire.Pack(nil, []byte("key"), []byte("value"), nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := wire.Unpack(body, 1000)
		if err != nil {
			return
		}
		// Lengths may be non-minimal uvarints: compare the items, not the bytes.
		again := wire.Pack(nil, items...)
		if wire.PackedLen(items...) != len(again) {
			t.Fatalf("PackedLen = %d, Pack wrote %d", wire.PackedLen(items...), len(again))
		}
		items2, err := wire.Unpack(again, 1000)
		if err != nil || len(items2) != len(items) {
			t.Fatalf("repacked %d items: %d items, %v", len(items), len(items2), err)
		}
		for i := range items {
			if !bytes.Equal(items[i], items2[i]) {
				t.Fatalf("item %d changed", i)
			}
		}
	})
}
