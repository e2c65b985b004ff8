package encode

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"unsafe"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// Values returns an iterator over the values appended to key, one per
// frame (one per Append or Set of the key), in append order, each decoded
// as Get decodes it but not joined. It reads the key through
// partd.NewReader on the inner store, one frame at a time, so it holds the
// largest value appended to the key rather than the key: a key larger
// than memory is read in the memory of its values. (Where the inner store
// reads keys only whole, as partd.NewReader says, that store holds the
// key.)
//
// The reader is opened when the loop starts and closed when it ends. An
// unknown key yields nothing. If reading or decoding fails, the iterator
// yields the zero T and an error (wrapping partd.ErrCorrupt for bytes that
// do not decode) once, and stops. What it reads when the key changes during
// the loop is what the inner store's reader reads (see partd.KeyReader):
// the values of the key as it was when the loop started, or an error.
func (e *Encoded[T]) Values(key string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if e.closed.Load() {
			yield(zero, fmt.Errorf("encode: read: %w", partd.ErrClosed))
			return
		}
		r, err := partd.NewReader(e.inner, key)
		if err != nil {
			yield(zero, err)
			return
		}
		defer r.Close()
		frames := frame.NewReader(r)
		for {
			// A fresh buffer per frame: Decode may keep it.
			b, err := frames.Next(nil, math.MaxInt)
			if err == io.EOF {
				return
			}
			if err != nil {
				if errors.Is(err, partd.ErrCorrupt) {
					err = fmt.Errorf("encode: key %q: %w", key, err)
				}
				yield(zero, err)
				return
			}
			v, err := e.codec.Decode(b)
			if err != nil {
				yield(zero, fmt.Errorf("encode: key %q, frame %d: %w", key, frames.Frames()-1, corrupt(err)))
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// Pop returns each key's values, decoded and joined as Get returns them,
// and deletes the keys: with the inner store's Pop (see partd.Pop), so
// where the inner store is a partd.Popper no append lands between the read
// and the delete. A key whose bytes do not decode is an error wrapping
// partd.ErrCorrupt, and is deleted all the same.
func (e *Encoded[T]) Pop(keys ...string) ([]T, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("encode: pop: %w", partd.ErrClosed)
	}
	raw, err := partd.Pop(e.inner, keys...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(keys) {
		return nil, fmt.Errorf("encode: pop: inner store returned %d values for %d keys: %w", len(raw), len(keys), partd.ErrCorrupt)
	}
	out := make([]T, len(keys))
	for i, b := range raw {
		if out[i], err = e.decodeKey(keys[i], b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ValuesBatch is how many bytes of numbers each slice that
// [Array.Values] yields holds at most.
const ValuesBatch = 1 << 20

// Values returns an iterator over key's numbers in slices of at most
// ValuesBatch bytes, in order: their concatenation is what Get returns. It
// reads the key through partd.NewReader on the inner store, a slice at a
// time, so it holds one slice, not the key (where the inner store reads
// keys only whole, as partd.NewReader says, that store holds the key).
// Each slice belongs to the caller.
//
// The reader is opened when the loop starts and closed when it ends. An
// unknown key yields nothing. A key stored with another dtype yields an
// error wrapping [ErrSchema] first; a key whose length is not a whole
// number of elements yields its whole elements, then an error wrapping
// partd.ErrCorrupt. After an error the iterator stops. What it reads when
// the key changes during the loop is what the inner store's reader reads
// (see partd.KeyReader).
func (a *Array[N]) Values(key string) iter.Seq2[[]N, error] {
	return func(yield func([]N, error) bool) {
		if a.closed.Load() {
			yield(nil, fmt.Errorf("encode: read: %w", partd.ErrClosed))
			return
		}
		if err := checkNumericKey("read", key); err != nil {
			yield(nil, err)
			return
		}
		dtypes, err := a.inner.Get(key + DtypeSuffix)
		if err != nil {
			yield(nil, err)
			return
		}
		if len(dtypes) == 1 && len(dtypes[0]) > 0 && string(dtypes[0]) != a.dtype {
			yield(nil, fmt.Errorf("encode: read %q: %w: key holds dtype %.40q, want %q", key, ErrSchema, dtypes[0], a.dtype))
			return
		}
		r, err := partd.NewReader(a.inner, key)
		if err != nil {
			yield(nil, err)
			return
		}
		defer r.Close()
		var zero N
		size := int(unsafe.Sizeof(zero))
		batch := ValuesBatch / size * size
		var read int64
		for {
			b := make([]byte, batch)
			n, err := io.ReadFull(r, b)
			read += int64(n)
			if whole := n / size * size; whole > 0 {
				if !yield(numsFrom[N](b[:whole]), nil) {
					return
				}
			}
			switch {
			case err == io.EOF || err == io.ErrUnexpectedEOF:
				if n%size != 0 {
					yield(nil, fmt.Errorf("encode: read %q: %w: %d bytes is not a whole number of %d-byte elements", key, partd.ErrCorrupt, read, size))
				}
				return
			case err != nil:
				yield(nil, err)
				return
			}
		}
	}
}

// Pop returns each key's numbers, as Get does, and deletes the keys and
// their dtypes with the inner store's Pop (see partd.Pop: atomic where the
// inner store is a partd.Popper). The dtypes are checked first, and a key
// stored with another dtype is an error wrapping [ErrSchema] that deletes
// nothing; a key whose length is not a whole number of elements is an
// error wrapping partd.ErrCorrupt, and is deleted all the same.
func (a *Array[N]) Pop(keys ...string) ([][]N, error) {
	if a.closed.Load() {
		return nil, fmt.Errorf("encode: pop: %w", partd.ErrClosed)
	}
	dkeys := make([]string, len(keys))
	for i, k := range keys {
		if err := checkNumericKey("pop", k); err != nil {
			return nil, err
		}
		dkeys[i] = k + DtypeSuffix
	}
	dtypes, err := a.inner.Get(dkeys...)
	if err != nil {
		return nil, err
	}
	for i, d := range dtypes {
		if len(d) > 0 && string(d) != a.dtype {
			return nil, fmt.Errorf("encode: pop %q: %w: key holds dtype %.40q, want %q", keys[i], ErrSchema, d, a.dtype)
		}
	}
	raw, err := partd.Pop(a.inner, append(keys[:len(keys):len(keys)], dkeys...)...)
	if err != nil {
		return nil, err
	}
	if len(raw) != 2*len(keys) {
		return nil, fmt.Errorf("encode: pop: inner store returned %d values for %d keys: %w", len(raw), 2*len(keys), partd.ErrCorrupt)
	}
	out := make([][]N, len(keys))
	for i, k := range keys {
		if out[i], err = decodeNumeric[N](k, raw[i], raw[len(keys)+i], a.dtype); err != nil {
			return nil, err
		}
	}
	return out, nil
}
