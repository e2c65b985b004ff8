package encode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
	"github.com/gopartd/partd/partdtest"
)

// hostile are msgpack frames whose headers claim far more than they hold.
var hostile = map[string][]byte{
	"array32 of 4G":            {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02},
	"array16 of 64K":           {0xdc, 0xff, 0xff, 0x01},
	"nested array32":           {0x91, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
	"map32 of 4G":              {0x91, 0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01},
	"bin32 of 4G":              {0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x01},
	"str32 of 4G":              {0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
	"ext32 of 4G":              {0x91, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01},
	"row with map32":           {0x91, 0x81, 0xa4, 'n', 'a', 'm', 'e', 0xdf, 0xff, 0xff, 0xff, 0xff},
	"deep":                     append(bytes.Repeat([]byte{0x91}, 5000), 0x01),
	"pickle protocol 5":        {0x80, 0x05, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x8c, 0x08, 'b', 'u', 'i', 'l', 't', 'i', 'n', 's', 0x94},
	"trailing bytes":           {0x91, 0x01, 0x02},
	"not a list":               {0xa3, 'a', 'b', 'c'},
	"nil":                      {0xc0},
	"reserved code":            {0x91, 0xc1},
	"empty":                    {},
	"truncated float":          {0x91, 0xcb, 0, 0},
	"map with non-string key":  {0x91, 0x81, 0x01, 0x02},
	"str8 length past the end": {0x91, 0xd9, 0x10, 'a'},
}

func TestMsgpackHostileFrames(t *testing.T) {
	for name, data := range hostile {
		t.Run(name, func(t *testing.T) {
			d := partd.NewDict()
			must(t, d.Set("k", frame.Append(nil, data)))
			check := func(label string, get func() error) {
				var err error
				n := partdtest.Allocated(func() { err = get() })
				if name == "map with non-string key" && label != "any" {
					// Typed layers may legitimately decode it (or not); only
					// the error kind and the allocation matter.
					if err != nil && !errors.Is(err, partd.ErrCorrupt) {
						t.Errorf("%s: err = %v, want nil or ErrCorrupt", label, err)
					}
				} else if !errors.Is(err, partd.ErrCorrupt) || !strings.Contains(err.Error(), `"k"`) {
					t.Errorf("%s: err = %v, want ErrCorrupt naming the key", label, err)
				}
				if n > 1<<20 {
					t.Errorf("%s: decoding %d hostile bytes allocated %d bytes", label, len(data), n)
				}
			}
			check("any", func() error { _, err := Msgpack[any](d).Get("k"); return err })
			check("int64", func() error { _, err := Msgpack[int64](d).Get("k"); return err })
			check("string", func() error { _, err := Msgpack[string](d).Get("k"); return err })
			check("Row", func() error { _, err := Msgpack[Row](d).Get("k"); return err })
			check("map", func() error { _, err := Msgpack[map[string]string](d).Get("k"); return err })
		})
	}
}

func TestMsgpackByteElementsAreAList(t *testing.T) {
	// A []byte would be msgpack bin; Python's partd.Python expects a list.
	b, err := MsgpackCodec[uint8]{}.Encode([]uint8{1, 2, 200})
	must(t, err)
	if want := []byte{0x93, 0x01, 0x02, 0xcc, 0xc8}; !bytes.Equal(b, want) {
		t.Fatalf("Msgpack[uint8] encodes %x, want %x", b, want)
	}
	v, err := MsgpackCodec[uint8]{}.Decode(b)
	must(t, err)
	if !bytes.Equal(v, []byte{1, 2, 200}) {
		t.Fatalf("decoded %v", v)
	}
}

func TestMsgpackWireMatchesPython(t *testing.T) {
	// Bytes Python's msgpack.packb(x, use_bin_type=True) writes.
	cases := []struct {
		v    []any
		want string
	}{
		{[]any{int64(1), int64(-1), int64(300), int64(-300), uint64(1 << 63), 1.5, "x", []byte("b"), nil, true},
			"\x9a\x01\xff\xcd\x01\x2c\xd1\xfe\xd4\xcf\x80\x00\x00\x00\x00\x00\x00\x00\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xa1x\xc4\x01b\xc0\xc3"},
		{[]any{map[string]any{"b": int64(2), "a": int64(1)}}, "\x91\x82\xa1a\x01\xa1b\x02"},
	}
	for _, c := range cases {
		got, err := MsgpackCodec[any]{}.Encode(c.v)
		must(t, err)
		if string(got) != c.want {
			t.Errorf("Encode(%v) = %x, want %x", c.v, got, c.want)
		}
	}
}

func TestMsgpackAnyTypes(t *testing.T) {
	in := []any{int8(-3), uint16(7), uint64(1 << 63), float32(1.5), "s", []byte{}, []byte(nil), nil,
		[]any{int32(1)}, map[string]any{"k": uint8(1)}, []string{"a"}}
	b, err := MsgpackCodec[any]{}.Encode(in)
	must(t, err)
	out, err := MsgpackCodec[any]{}.Decode(b)
	must(t, err)
	want := []any{int64(-3), int64(7), uint64(1 << 63), 1.5, "s", []byte{}, nil, nil,
		[]any{int64(1)}, map[string]any{"k": int64(1)}, []any{"a"}}
	for i := range want {
		if !reflect.DeepEqual(out[i], want[i]) {
			t.Errorf("element %d: got %#v, want %#v", i, out[i], want[i])
		}
	}
}
