package encode

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// bytesCodec stores byte slices as they are: it exercises framing alone.
type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return slices.Clone(v), nil }
func (bytesCodec) Decode(b []byte) ([]byte, error) { return b, nil }
func (bytesCodec) Join(p [][]byte) []byte          { return bytes.Join(p, nil) }

// stored returns what a layer wrote to a fresh Dict under key.
func stored(t testing.TB, key string, write func(partd.Store) error) []byte {
	d := partd.NewDict()
	if err := write(d); err != nil {
		t.Fatal(err)
	}
	v, err := d.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func onlyCorrupt(t *testing.T, what string, err error, also ...error) {
	t.Helper()
	if err == nil || errors.Is(err, partd.ErrCorrupt) {
		return
	}
	for _, a := range also {
		if errors.Is(err, a) {
			return
		}
	}
	t.Fatalf("%s: err = %v, want nil or ErrCorrupt", what, err)
}

func FuzzFrames(f *testing.F) {
	f.Add(stored(f, "k", func(s partd.Store) error {
		e := New[[]byte](s, bytesCodec{})
		for _, v := range []string{"a", "", "hello", "\x00\x00\x00\x00\x00\x00\x00\x00"} {
			if err := e.Append(map[string][]byte{"k": []byte(v)}); err != nil {
				return err
			}
		}
		return nil
	}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := partd.NewDict()
		if err := d.Set("k", data); err != nil {
			t.Fatal(err)
		}
		got, err := New[[]byte](d, bytesCodec{}).Get("k")
		onlyCorrupt(t, "Get", err)
		frames, n := frame.SplitPrefix(data)
		if (err == nil) != (n == len(data)) {
			t.Fatalf("Get err = %v but the frames cover %d of %d bytes", err, n, len(data))
		}
		if err == nil && !bytes.Equal(got[0], bytes.Join(frames, nil)) {
			t.Fatalf("Get = %x, want the frames' concatenation", got[0])
		}
	})
}

func FuzzMsgpack(f *testing.F) {
	for _, v := range [][]any{
		{int64(1), "a", []byte("b"), 2.5, true, nil},
		{[]any{int64(-1), map[string]any{"k": []any{uint64(1 << 63)}}}},
		{map[string]any{"id": int64(7), "name": "row", "tags": []any{"t"}, "blob": []byte{1}}},
	} {
		b, err := MsgpackCodec[any]{}.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rows, _ := MsgpackCodec[Row]{}.Encode([]Row{mkRow(1), mkRow(2)})
	f.Add(rows)
	strs, _ := MsgpackCodec[string]{}.Encode([]string{"x", "yy"})
	f.Add(strs)
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := partd.NewDict()
		if err := d.Set("k", frame.Append(nil, data)); err != nil {
			t.Fatal(err)
		}
		got, err := Msgpack[any](d).Get("k")
		onlyCorrupt(t, "any", err)
		if err == nil {
			// What decodes re-encodes to something that decodes the same.
			b1, err := MsgpackCodec[any]{}.Encode(got[0])
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			v2, err := MsgpackCodec[any]{}.Decode(b1)
			if err != nil && len(b1) > 0 {
				t.Fatalf("decode of re-encoding: %v", err)
			}
			b2, _ := MsgpackCodec[any]{}.Encode(v2)
			if !bytes.Equal(b1, b2) {
				t.Fatalf("re-encoding is not stable: %x vs %x", b1, b2)
			}
		}
		_, err = Msgpack[Row](d).Get("k")
		onlyCorrupt(t, "Row", err)
		_, err = Msgpack[string](d).Get("k")
		onlyCorrupt(t, "string", err)
		_, err = Msgpack[int64](d).Get("k")
		onlyCorrupt(t, "int64", err)
		_, err = Msgpack[map[string]string](d).Get("k")
		onlyCorrupt(t, "map", err)
	})
}

func FuzzNumeric(f *testing.F) {
	f.Add(stored(f, "k", func(s partd.Store) error {
		return Numeric[int64](s).Append(map[string][]int64{"k": {1, -2, 3}})
	}), []byte("<i8"))
	f.Add(stored(f, "k", func(s partd.Store) error {
		return Numeric[float32](s).Append(map[string][]float32{"k": {1.5}})
	}), []byte("<f4"))
	f.Add([]byte{1, 2, 3}, []byte("|u1"))
	f.Add([]byte{1, 2, 3}, []byte{})
	f.Fuzz(func(t *testing.T, data, dtype []byte) {
		d := partd.NewDict()
		if err := d.Append(map[string][]byte{"k": data, "k.dtype": dtype}); err != nil {
			t.Fatal(err)
		}
		check := func(name string, got []byte, err error, size int) {
			onlyCorrupt(t, name, err, ErrSchema)
			if err == nil && !bytes.Equal(got, data) {
				t.Fatalf("%s: Get changed the bytes", name)
			}
			if err == nil && len(data)%size != 0 {
				t.Fatalf("%s: %d bytes accepted for %d-byte elements", name, len(data), size)
			}
		}
		i, err := Numeric[int64](d).Get("k")
		check("int64", numBytes(first(i)), err, 8)
		fl, err := Numeric[float32](d).Get("k")
		check("float32", numBytes(first(fl)), err, 4)
		u, err := Numeric[uint8](d).Get("k")
		check("uint8", numBytes(first(u)), err, 1)
	})
}

func first[E any](v [][]E) []E {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

func FuzzColumns(f *testing.F) {
	seed := func(tab Table) {
		d := partd.NewDict()
		if err := NewColumns(d).Append(map[string]Table{"t": tab}); err != nil {
			f.Fatal(err)
		}
		v, _ := d.Get("t/.schema", "t/a", "t/b")
		f.Add(v[0], v[1], v[2])
	}
	seed(Table{Columns: []Column{{"a", []int64{1, 2}}, {"b", []string{"x", "y"}}}})
	seed(Table{Columns: []Column{{"a", [][]byte{{1}}}, {"b", []float32{2}}}})
	seed(Table{Columns: []Column{{"a", []uint8{1, 2, 3}}, {"b", []uint16{4, 5, 6}}}})
	f.Fuzz(func(t *testing.T, schema, a, b []byte) {
		d := partd.NewDict()
		if err := d.Append(map[string][]byte{"t/.schema": schema, "t/a": a, "t/b": b}); err != nil {
			t.Fatal(err)
		}
		c := NewColumns(d)
		got, err := c.Get("t")
		onlyCorrupt(t, "Get", err, ErrSchema)
		if err == nil && len(got[0].Columns) > 0 {
			rows := got[0].Len()
			for _, col := range got[0].Columns {
				ct, ok := typeOfData(col.Data)
				if !ok || ct.length(col.Data) != rows {
					t.Fatalf("column %q: %T with %d rows, want %d", col.Name, col.Data, ct.length(col.Data), rows)
				}
			}
		}
		_, err = c.GetColumns([]string{"a"}, "t")
		onlyCorrupt(t, "GetColumns", err, ErrSchema)
	})
}
