package encode

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gopartd/partd"
)

// Number is the element type of a [Numeric] layer: a fixed-width integer or
// float (int and uint store as 8 bytes on 64-bit hosts).
type Number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~int |
		~uint8 | ~uint16 | ~uint32 | ~uint64 | ~uint |
		~float32 | ~float64
}

// DtypeSuffix ends the key under which [Numeric] stores a key's numpy dtype
// string, as Python's partd.Numpy does: key "x" has its dtype at "x.dtype",
// key "a/b" at "a/b.dtype". Numeric rejects keys that end in it.
const DtypeSuffix = ".dtype"

// Dtype returns the numpy dtype string of N as numpy's dtype.str gives it:
// "<i8" for int64, "<f4" for float32, "|u1" for uint8.
func Dtype[N Number]() string {
	t := reflect.TypeFor[N]()
	var kind byte
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		kind = 'i'
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uint:
		kind = 'u'
	default:
		kind = 'f'
	}
	order := byte('<')
	if t.Size() == 1 {
		order = '|'
	}
	return string([]byte{order, kind}) + strconv.Itoa(int(t.Size()))
}

// Numeric returns a layer that stores slices of N in inner as raw
// little-endian bytes with no frames, and the numpy dtype string of N under
// key+".dtype", exactly as Python's partd.Numpy stores a numpy array: each
// reads what the other writes.
//
// Appending to a key whose stored dtype differs (float64 values to a key
// holding "<i8") is an error wrapping [ErrSchema]; partd.Numpy would silently
// reinterpret the bytes. Get of a key stored with another dtype is an
// ErrSchema error too, and a key whose length is not a whole number of
// elements is [partd.ErrCorrupt]. Keys ending in ".dtype" are
// [partd.ErrInvalidKey]. A key holding bytes but no dtype (a writer that
// died between the two) reads as N.
func Numeric[N Number](inner partd.Store) *Array[N] {
	return &Array[N]{inner: inner, dtype: Dtype[N]()}
}

// Array is the layer [Numeric] returns. It implements [Store] of []N.
type Array[N Number] struct {
	inner  partd.Store
	dtype  string
	closed atomic.Bool
}

// Inner returns the store the layer wraps.
func (a *Array[N]) Inner() partd.Store { return a.inner }

// Unwrap returns the store the layer wraps, as a partd.Wrapper's Unwrap
// does, so code that walks layers (partd.Find, partd.BufferStatsOf, ...)
// walks this one too: partd.Size(x.Unwrap()) is the memory under x.
func (a *Array[N]) Unwrap() partd.Store { return a.inner }

// Dtype returns the numpy dtype string the layer stores.
func (a *Array[N]) Dtype() string { return a.dtype }

// littleEndian reports whether the host stores numbers little-endian, so that
// a []N is already in the stored byte order.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// numBytes returns v as little-endian bytes. On little-endian hosts the
// result aliases v: callers only pass it to stores, which do not retain it.
func numBytes[N Number](v []N) []byte {
	if len(v) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(v[0]))
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*size)
	if littleEndian || size == 1 {
		return b
	}
	b = slices.Clone(b)
	swapEach(b, size)
	return b
}

// numsFrom returns b, little-endian numbers, as a []N. b must belong to the
// caller (as stores' Get results do): when b is suitably aligned on a
// little-endian host the result shares its memory instead of copying it.
// len(b) must be a multiple of the element size.
func numsFrom[N Number](b []byte) []N {
	if len(b) == 0 {
		return nil
	}
	var zero N
	size := int(unsafe.Sizeof(zero))
	p := unsafe.Pointer(unsafe.SliceData(b))
	if littleEndian && uintptr(p)%unsafe.Alignof(zero) == 0 {
		return unsafe.Slice((*N)(p), len(b)/size)
	}
	out := make([]N, len(b)/size)
	ob := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), len(b))
	copy(ob, b)
	if !littleEndian {
		swapEach(ob, size)
	}
	return out
}

// swapEach reverses the bytes of each size-byte element of b.
func swapEach(b []byte, size int) {
	for i := 0; i+size <= len(b); i += size {
		slices.Reverse(b[i : i+size])
	}
}

func checkNumericKey(op, key string) error {
	if err := partd.ValidateKey(key); err != nil {
		return err
	}
	if strings.HasSuffix(key, DtypeSuffix) {
		return fmt.Errorf("encode: %s %q: %w: keys ending in %q hold dtypes", op, key, partd.ErrInvalidKey, DtypeSuffix)
	}
	if err := partd.ValidateKey(key + DtypeSuffix); err != nil {
		return fmt.Errorf("encode: %s %q: no room for its dtype key: %w", op, key, err)
	}
	return nil
}

// Append adds each slice to the end of its key. The first append to a key
// stores its dtype; later ones check it. Empty slices create nothing.
func (a *Array[N]) Append(data map[string][]N) error {
	if a.closed.Load() {
		return fmt.Errorf("encode: append: %w", partd.ErrClosed)
	}
	keys := make([]string, 0, len(data))
	for k, v := range data {
		if err := checkNumericKey("append", k); err != nil {
			return err
		}
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	dkeys, stored, err := a.checkDtypes(keys)
	if err != nil {
		return err
	}
	// New keys get their dtype first, so that no reader sees bytes without
	// one. If the batch then fails (a key conflicts with a stored one), the
	// dtypes set here are removed again.
	var created []string
	rollback := func(err error) error {
		if len(created) > 0 {
			if derr := a.inner.Delete(created...); derr != nil {
				return errors.Join(err, fmt.Errorf("encode: append: removing the dtypes it set: %w", derr))
			}
		}
		return err
	}
	for i, dt := range stored {
		if len(dt) == 0 {
			if err := a.inner.Set(dkeys[i], []byte(a.dtype)); err != nil {
				return rollback(fmt.Errorf("encode: append %q: %w", keys[i], err))
			}
			created = append(created, dkeys[i])
		}
	}
	batch := make(map[string][]byte, len(keys))
	for _, k := range keys {
		batch[k] = numBytes(data[k])
	}
	if err := a.inner.Append(batch); err != nil {
		return rollback(fmt.Errorf("encode: append: %w", err))
	}
	return nil
}

// checkDtypes checks the keys of an Append batch (with values) against each
// other and against the dtypes stored for them, and returns the keys of
// their dtypes and the dtypes stored (empty for a new key).
func (a *Array[N]) checkDtypes(keys []string) (dkeys []string, stored [][]byte, err error) {
	dkeys = make([]string, len(keys))
	for i, k := range keys {
		dkeys[i] = k + DtypeSuffix
	}
	if len(keys) > 1 {
		writes := make(map[string]bool, 2*len(keys))
		for i, k := range keys {
			writes[k], writes[dkeys[i]] = true, true
		}
		if err := checkWrites("append", writes); err != nil {
			return nil, nil, err
		}
	}
	if stored, err = a.inner.Get(dkeys...); err != nil {
		return nil, nil, err
	}
	if len(stored) != len(dkeys) {
		return nil, nil, fmt.Errorf("encode: append: inner store returned %d values for %d keys: %w", len(stored), len(dkeys), partd.ErrCorrupt)
	}
	for i, dt := range stored {
		if len(dt) > 0 && string(dt) != a.dtype {
			return nil, nil, fmt.Errorf("encode: append %q: %w: key holds dtype %q, appending %q", keys[i], ErrSchema, dt, a.dtype)
		}
	}
	return dkeys, stored, nil
}

// Get returns each key's numbers; an unknown key yields nil. The slices
// belong to the caller. On little-endian hosts they are the inner store's
// Get results (which the store hands over to its caller) viewed as []N, not
// copies; a result that is not aligned for N is copied.
func (a *Array[N]) Get(keys ...string) ([][]N, error) {
	if a.closed.Load() {
		return nil, fmt.Errorf("encode: get: %w", partd.ErrClosed)
	}
	all := make([]string, 2*len(keys))
	for i, k := range keys {
		if strings.HasSuffix(k, DtypeSuffix) {
			return nil, fmt.Errorf("encode: get %q: %w: keys ending in %q hold dtypes", k, partd.ErrInvalidKey, DtypeSuffix)
		}
		all[i], all[len(keys)+i] = k, k+DtypeSuffix
	}
	raw, err := a.inner.Get(all...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(all) {
		return nil, fmt.Errorf("encode: get: inner store returned %d values for %d keys: %w", len(raw), len(all), partd.ErrCorrupt)
	}
	out := make([][]N, len(keys))
	for i, k := range keys {
		if out[i], err = decodeNumeric[N](k, raw[i], raw[len(keys)+i], a.dtype); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeNumeric checks and converts the bytes of one key.
func decodeNumeric[N Number](key string, b, dtype []byte, want string) ([]N, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(dtype) > 0 && string(dtype) != want {
		return nil, fmt.Errorf("encode: get %q: %w: key holds dtype %.40q, want %q", key, ErrSchema, dtype, want)
	}
	var zero N
	if size := int(unsafe.Sizeof(zero)); len(b)%size != 0 {
		return nil, fmt.Errorf("encode: get %q: %w: %d bytes is not a whole number of %d-byte elements", key, partd.ErrCorrupt, len(b), size)
	}
	return numsFrom[N](b), nil
}

// Set replaces a key's numbers (and dtype) with v; an empty v deletes the
// key.
func (a *Array[N]) Set(key string, v []N) error {
	if a.closed.Load() {
		return fmt.Errorf("encode: set: %w", partd.ErrClosed)
	}
	if err := checkNumericKey("set", key); err != nil {
		return err
	}
	if len(v) == 0 {
		if err := a.inner.Delete(key, key+DtypeSuffix); err != nil {
			return err
		}
		return nil
	}
	if err := a.inner.Set(key+DtypeSuffix, []byte(a.dtype)); err != nil {
		return err
	}
	if err := a.inner.Set(key, numBytes(v)); err != nil {
		err = fmt.Errorf("encode: set: %w", err)
		if errors.Is(err, partd.ErrInvalidKey) {
			// The key cannot hold numbers (it conflicts with a stored key),
			// so the dtype just set describes nothing.
			if derr := a.inner.Delete(key + DtypeSuffix); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return err
	}
	return nil
}

// Delete removes keys and their dtypes; unknown keys are not an error.
// (Python's partd.Numpy.delete removes only the dtypes.)
func (a *Array[N]) Delete(keys ...string) error {
	if a.closed.Load() {
		return fmt.Errorf("encode: delete: %w", partd.ErrClosed)
	}
	all := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		if strings.HasSuffix(k, DtypeSuffix) {
			return fmt.Errorf("encode: delete %q: %w: keys ending in %q hold dtypes", k, partd.ErrInvalidKey, DtypeSuffix)
		}
		all = append(all, k, k+DtypeSuffix)
	}
	if err := a.inner.Delete(all...); err != nil {
		return err
	}
	return nil
}

// Keys returns every key that holds numbers, sorted: the inner store's keys
// without the dtype keys.
func (a *Array[N]) Keys() ([]string, error) {
	if a.closed.Load() {
		return nil, fmt.Errorf("encode: keys: %w", partd.ErrClosed)
	}
	keys, err := a.inner.Keys()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.HasSuffix(k, DtypeSuffix) }), nil
}

// Drop removes everything from the inner store; the layer stays usable.
func (a *Array[N]) Drop() error {
	if a.closed.Load() {
		return fmt.Errorf("encode: drop: %w", partd.ErrClosed)
	}
	if err := a.inner.Drop(); err != nil {
		return err
	}
	return nil
}

// Close closes the layer and the inner store. Later calls return
// partd.ErrClosed; a second Close returns nil.
func (a *Array[N]) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	if err := a.inner.Close(); err != nil {
		return err
	}
	return nil
}
