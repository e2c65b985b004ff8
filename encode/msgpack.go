package encode

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/gopartd/partd"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Msgpack returns a layer that stores lists of E in inner as msgpack, one
// frame per appended list: the format of Python's partd.Python, so each
// reads what the other writes.
//
// Values encode as vmihailenco/msgpack encodes them, with the settings of
// Python's msgpack.packb(x, use_bin_type=True): a Go string is a msgpack str
// (Python str), a []byte is bin (Python bytes), integers take their smallest
// form, floats stay floats, structs become maps keyed by field name (or
// msgpack tag), and map keys are sorted so equal values encode equally.
// Python decodes maps only with str or bytes keys.
//
// For E = any, lists decode to int64 (uint64 above math.MaxInt64), float64,
// string, []byte, bool, nil, []any and map[string]any (a bytes map key
// becomes a string key); an ext value (such as a timestamp) decodes as
// vmihailenco/msgpack decodes it.
//
// A frame that Python pickled (because msgpack could not represent the
// value, e.g. a set or a 100-bit integer) is reported as partd.ErrCorrupt;
// it is never unpickled.
func Msgpack[E any](inner partd.Store) *Encoded[[]E] {
	return New[[]E](inner, MsgpackCodec[E]{})
}

// MsgpackCodec is the [Codec] of [Msgpack]: a list of E is one msgpack
// array. The zero value is ready to use.
type MsgpackCodec[E any] struct{}

var _ AppendEncoder[[]int] = MsgpackCodec[int]{}

// appendWriter is an io.Writer and io.ByteWriter that appends to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

var writerPool = sync.Pool{New: func() any { return new(appendWriter) }}

// Encode returns the msgpack encoding of v: nothing when v is empty.
func (c MsgpackCodec[E]) Encode(v []E) ([]byte, error) { return c.AppendEncode(nil, v) }

// AppendEncode appends the msgpack encoding of v to dst; it appends nothing
// when v is empty.
func (MsgpackCodec[E]) AppendEncode(dst []byte, v []E) ([]byte, error) {
	if len(v) == 0 {
		return dst, nil
	}
	w := writerPool.Get().(*appendWriter)
	w.b = dst
	enc := msgpack.GetEncoder()
	enc.Reset(w)
	enc.UseCompactInts(true)
	enc.SetSortMapKeys(true)
	var err error
	if isByteKind[E]() {
		// A []byte would be one bin value; Python expects a list of ints.
		if err = enc.EncodeArrayLen(len(v)); err == nil {
			for i := range v {
				if err = enc.Encode(&v[i]); err != nil {
					break
				}
			}
		}
	} else {
		err = enc.Encode(v)
	}
	msgpack.PutEncoder(enc)
	out := w.b
	w.b = nil
	writerPool.Put(w)
	if err != nil {
		return dst, fmt.Errorf("msgpack: %w", err)
	}
	return out, nil
}

// isByteKind reports whether E is a byte-sized unsigned integer, whose
// slices msgpack would write as bin.
func isByteKind[E any]() bool {
	return reflect.TypeFor[E]().Kind() == reflect.Uint8
}

// Join concatenates the lists.
func (MsgpackCodec[E]) Join(parts [][]E) []E { return joinSlices(parts) }

// decState is a pooled decoder with its reader.
type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any { return &decState{dec: msgpack.NewDecoder(nil)} }}

// maxDepth bounds the nesting of lists and maps decoded into any, as Python's
// msgpack bounds its stack.
const maxDepth = 1024

var (
	errNotList = errors.New("msgpack: frame is not a list")
	errTooDeep = errors.New("msgpack: nested deeper than 1024 levels")
)

// Decode decodes one msgpack array. Anything else (trailing bytes, another
// type, a pickle) is an error.
func (MsgpackCodec[E]) Decode(data []byte) ([]E, error) {
	if err := checkMsgpack(data); err != nil {
		return nil, err
	}
	st := decPool.Get().(*decState)
	defer func() {
		st.r.Reset(nil)
		st.dec.Reset(nil)
		decPool.Put(st)
	}()
	st.r.Reset(data)
	d := st.dec
	d.Reset(&st.r)
	r := &st.r
	d.SetMapDecoder(boundedMapDecoder)
	c, err := d.PeekCode()
	if err != nil {
		return nil, fmt.Errorf("msgpack: %w", err)
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return nil, fmt.Errorf("%w (leading byte %#02x)", errNotList, c)
	}
	n, err := d.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("msgpack: %w", err)
	}
	// Every element takes at least one byte: a hostile length cannot make us
	// allocate more than the frame justifies.
	if n < 0 || n > r.Len() {
		return nil, fmt.Errorf("msgpack: list of %d elements in %d bytes", n, r.Len())
	}
	out := make([]E, n)
	if p, ok := any(&out).(*[]any); ok {
		for i := range *p {
			if (*p)[i], err = decodeAny(d, r, 1); err != nil {
				return nil, fmt.Errorf("msgpack: element %d: %w", i, err)
			}
		}
	} else {
		for i := range out {
			if err = d.Decode(&out[i]); err != nil {
				return nil, fmt.Errorf("msgpack: element %d: %w", i, err)
			}
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("msgpack: %d bytes after the list", r.Len())
	}
	return out, nil
}

// decodeAny decodes one value into the Go types Msgpack documents for any.
func decodeAny(d *msgpack.Decoder, r *bytes.Reader, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		return d.DecodeInt64()
	case c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32, c == msgpcode.Uint64:
		u, err := d.DecodeUint64()
		if err != nil || u > math.MaxInt64 {
			return u, err
		}
		return int64(u), nil
	case c == msgpcode.Float, c == msgpcode.Double:
		return d.DecodeFloat64()
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.False, c == msgpcode.True:
		return d.DecodeBool()
	case msgpcode.IsString(c):
		return d.DecodeString()
	case msgpcode.IsBin(c):
		b, err := d.DecodeBytes()
		if b == nil && err == nil {
			b = []byte{}
		}
		return b, err
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if n > r.Len() {
			return nil, fmt.Errorf("list of %d elements in %d bytes", n, r.Len())
		}
		s := make([]any, n)
		for i := range s {
			if s[i], err = decodeAny(d, r, depth+1); err != nil {
				return nil, err
			}
		}
		return s, nil
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return decodeAnyMap(d, r, depth)
	}
	return d.DecodeInterface()
}

// boundedMapDecoder decodes the maps that vmihailenco/msgpack decodes into
// an interface (in a struct field of type any, say) without trusting their
// length: its default makes a map of whatever size the header claims.
func boundedMapDecoder(d *msgpack.Decoder) (any, error) {
	r, ok := d.Buffered().(*bytes.Reader)
	if !ok {
		return nil, errors.New("msgpack: decoder without its reader")
	}
	return decodeAnyMap(d, r, 0)
}

// decodeAnyMap decodes a map into map[string]any.
func decodeAnyMap(d *msgpack.Decoder, r *bytes.Reader, depth int) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, nil
	}
	if n > r.Len()/2 {
		return nil, fmt.Errorf("map of %d entries in %d bytes", n, r.Len())
	}
	m := make(map[string]any, n)
	for range n {
		k, err := decodeAny(d, r, depth+1)
		if err != nil {
			return nil, err
		}
		var key string
		switch k := k.(type) {
		case string:
			key = k
		case []byte:
			key = string(k)
		default:
			return nil, fmt.Errorf("map key of type %T", k)
		}
		if m[key], err = decodeAny(d, r, depth+1); err != nil {
			return nil, err
		}
	}
	return m, nil
}
