package encode

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// ErrSchema is returned, wrapped with context, when values do not match what
// a key already holds: a Numeric key whose stored dtype differs from the
// layer's, a Columns table whose columns or column types differ from the
// stored schema, or a column that a table does not have.
var ErrSchema = errors.New("encode: type or schema differs from the stored one")

// Codec turns values of T into bytes and back.
//
// Encode must not retain v. Decode gets one frame's bytes, which it may keep
// (they belong to the layer's caller and nothing else refers to them); it
// should return an error for bytes it cannot decode, which the layer wraps
// with [partd.ErrCorrupt]. Join gets the decoded values of a key's frames in
// append order (none for a key that holds nothing) and returns them as one
// value. Every method may be called from many goroutines at once.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(data []byte) (T, error)
	Join(parts []T) T
}

// AppendEncoder is implemented by codecs that can encode by appending to a
// buffer. [Encoded] uses it, when its codec has it, to write each value
// straight after its frame header and so save a copy per value.
type AppendEncoder[T any] interface {
	// AppendEncode appends the encoding of v to dst and returns the extended
	// slice. Appending nothing means v is empty and is not stored.
	AppendEncode(dst []byte, v T) ([]byte, error)
}

// Store is the contract of a typed layer, the typed twin of [partd.Store]:
// [Encoded], [Array] and [Columns] implement it. Values passed to Append and
// Set are not retained; values returned by Get belong to the caller.
type Store[T any] interface {
	// Append adds each value to the end of its key.
	Append(data map[string]T) error
	// Get returns one value per key, in the order asked; an unknown key
	// yields the empty value.
	Get(keys ...string) ([]T, error)
	// Set replaces a key's value.
	Set(key string, value T) error
	// Delete removes keys; unknown keys are not an error.
	Delete(keys ...string) error
	// Keys returns every key that holds a value, sorted.
	Keys() ([]string, error)
	// Drop removes everything; the store stays usable.
	Drop() error
	// Close releases the layer and the store it wraps.
	Close() error
}

var (
	_ Store[[]int]   = (*Encoded[[]int])(nil)
	_ Store[[]int64] = (*Array[int64])(nil)
	_ Store[Table]   = (*Columns)(nil)
)

// Encoded stores values of T in an inner [partd.Store] through a [Codec],
// as Python partd's Encode does: each appended value becomes one frame, and
// Get decodes a key's frames and joins them. Build it with [New].
type Encoded[T any] struct {
	inner  partd.Store
	codec  Codec[T]
	appEnc AppendEncoder[T] // codec as an AppendEncoder, or nil
	closed atomic.Bool
}

// New returns a layer that stores values of T in inner through c. The layer
// owns inner: its Close closes inner.
func New[T any](inner partd.Store, c Codec[T]) *Encoded[T] {
	e := &Encoded[T]{inner: inner, codec: c}
	e.appEnc, _ = c.(AppendEncoder[T])
	return e
}

// Inner returns the store the layer wraps.
func (e *Encoded[T]) Inner() partd.Store { return e.inner }

// Unwrap returns the store the layer wraps, as a partd.Wrapper's Unwrap
// does, so code that walks layers (partd.Find, partd.BufferStatsOf, ...)
// walks this one too: partd.Size(x.Unwrap()) is the memory under x.
func (e *Encoded[T]) Unwrap() partd.Store { return e.inner }

// encodeFrame appends v to dst as one frame. It appends nothing when v's
// encoding is empty.
func (e *Encoded[T]) encodeFrame(dst []byte, v T) ([]byte, error) {
	if e.appEnc != nil {
		dst, start := frame.Reserve(dst)
		out, err := e.appEnc.AppendEncode(dst, v)
		if err != nil {
			return dst[:start], err
		}
		if len(out) < len(dst) {
			return dst[:start], errors.New("AppendEncode returned less than it was given")
		}
		if frame.Seal(out, start) == 0 {
			return out[:start], nil
		}
		return out, nil
	}
	b, err := e.codec.Encode(v)
	if err != nil || len(b) == 0 {
		return dst, err
	}
	return frame.Append(dst, b), nil
}

// Append encodes each value and appends it to its key as one frame. A value
// whose encoding is empty (an empty list, for Msgpack) is not written, so it
// creates no key. Keys are checked before anything is encoded.
//
// A batch whose encoding takes more than 100µs finishes on GOMAXPROCS
// goroutines, which have all returned when Append does.
func (e *Encoded[T]) Append(data map[string]T) error {
	if e.closed.Load() {
		return fmt.Errorf("encode: append: %w", partd.ErrClosed)
	}
	for k := range data {
		if err := partd.ValidateKey(k); err != nil {
			return err
		}
	}
	framed, err := encodeBatch(data, e.encodeFrame)
	// Stores do not retain the values they are given, so the encoded
	// buffers go back to the pool once the inner Append returns.
	defer func() {
		for _, b := range framed {
			putBuf(b)
		}
	}()
	if err != nil {
		return err
	}
	if len(framed) == 0 {
		return nil
	}
	if err := e.inner.Append(framed); err != nil {
		return err
	}
	return nil
}

// bufPool holds encoding buffers; maxPooledBuf bounds what it keeps.
var bufPool sync.Pool

const maxPooledBuf = 4 << 20

func getBuf() []byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 4096)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// parallelAfter is how long Append encodes a batch on its own goroutine
// before it spreads the rest over GOMAXPROCS goroutines. A cheap batch never
// pays for goroutines; an expensive one does not wait for one core
// (BenchmarkEncodeBatch measures the gain).
const parallelAfter = 100 * time.Microsecond

// encodeBatch encodes every value of data with enc into pooled buffers,
// going parallel once the batch has taken parallelAfter. Empty encodings
// are left out of the result. On error the result holds the buffers
// encoded so far, for the caller to release.
func encodeBatch[T any](data map[string]T, enc func([]byte, T) ([]byte, error)) (map[string][]byte, error) {
	return encodeBatchAfter(data, enc, runtime.GOMAXPROCS(0), parallelAfter)
}

// encodeBatchAfter is encodeBatch with the number of goroutines and the
// time after which to use them as parameters.
func encodeBatchAfter[T any](data map[string]T, enc func([]byte, T) ([]byte, error), workers int, after time.Duration) (map[string][]byte, error) {
	out := make(map[string][]byte, len(data))
	var (
		start = time.Now()
		rest  []string // keys left when going parallel
		done  int
	)
	for k, v := range data {
		if rest != nil {
			rest = append(rest, k)
			continue
		}
		if workers > 1 && len(data)-done >= 2 && time.Since(start) > after {
			rest = append(make([]string, 0, len(data)-done), k)
			continue
		}
		b, err := enc(getBuf(), v)
		if err != nil {
			putBuf(b)
			return out, fmt.Errorf("encode: append %q: %w", k, err)
		}
		if len(b) > 0 {
			out[k] = b
		} else {
			putBuf(b)
		}
		done++
	}
	if len(rest) == 0 {
		return out, nil
	}
	enced := make([][]byte, len(rest))
	err := parallelFor(len(rest), min(workers, len(rest)), func(i int) error {
		b, err := enc(getBuf(), data[rest[i]])
		enced[i] = b
		if err != nil {
			return fmt.Errorf("encode: append %q: %w", rest[i], err)
		}
		return nil
	})
	for i, k := range rest {
		if len(enced[i]) > 0 {
			out[k] = enced[i]
		} else if enced[i] != nil {
			putBuf(enced[i])
		}
	}
	return out, err
}

// parallelFor runs fn(0) … fn(n-1) on workers goroutines and returns the
// first error; after an error, indexes not yet started are skipped.
func parallelFor(n, workers int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		failed  atomic.Bool
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// Get returns each key's values, decoded and joined; an unknown key yields
// Join of no values (nil, for Msgpack). Bytes that cannot be decoded are an
// error wrapping partd.ErrCorrupt that names the key.
func (e *Encoded[T]) Get(keys ...string) ([]T, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("encode: get: %w", partd.ErrClosed)
	}
	raw, err := e.inner.Get(keys...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(keys) {
		return nil, fmt.Errorf("encode: get: inner store returned %d values for %d keys: %w", len(raw), len(keys), partd.ErrCorrupt)
	}
	// Keys are decoded one after the other: decoding them on two goroutines
	// measured slower on 2 cores (msgpack decoding allocates per row, and
	// the allocator and collector become the bottleneck).
	out := make([]T, len(keys))
	for i, b := range raw {
		if out[i], err = e.decodeKey(keys[i], b); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeKey splits, decodes and joins the bytes of one key.
func (e *Encoded[T]) decodeKey(key string, b []byte) (T, error) {
	frames, err := frame.Split(b)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("encode: key %q: %w", key, err)
	}
	parts := make([]T, len(frames))
	for j, f := range frames {
		if parts[j], err = e.codec.Decode(f); err != nil {
			var zero T
			return zero, fmt.Errorf("encode: key %q, frame %d of %d: %w", key, j, len(frames), corrupt(err))
		}
	}
	return e.codec.Join(parts), nil
}

// corrupt makes err wrap partd.ErrCorrupt.
func corrupt(err error) error {
	if errors.Is(err, partd.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", partd.ErrCorrupt, err)
}

// Set replaces a key's value with v, as one frame. An empty encoding
// deletes the key.
func (e *Encoded[T]) Set(key string, v T) error {
	if e.closed.Load() {
		return fmt.Errorf("encode: set: %w", partd.ErrClosed)
	}
	if err := partd.ValidateKey(key); err != nil {
		return err
	}
	b, err := e.encodeFrame(nil, v)
	if err != nil {
		return fmt.Errorf("encode: set %q: %w", key, err)
	}
	if err := e.inner.Set(key, b); err != nil {
		return err
	}
	return nil
}

// Delete removes keys; unknown keys are not an error.
func (e *Encoded[T]) Delete(keys ...string) error {
	if e.closed.Load() {
		return fmt.Errorf("encode: delete: %w", partd.ErrClosed)
	}
	if err := e.inner.Delete(keys...); err != nil {
		return err
	}
	return nil
}

// Keys returns every key that holds a value, sorted: the inner store's keys.
func (e *Encoded[T]) Keys() ([]string, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("encode: keys: %w", partd.ErrClosed)
	}
	keys, err := e.inner.Keys()
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// Drop removes everything from the inner store; the layer stays usable.
func (e *Encoded[T]) Drop() error {
	if e.closed.Load() {
		return fmt.Errorf("encode: drop: %w", partd.ErrClosed)
	}
	if err := e.inner.Drop(); err != nil {
		return err
	}
	return nil
}

// Close closes the layer and the inner store. Later calls return
// partd.ErrClosed; a second Close returns nil.
func (e *Encoded[T]) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if err := e.inner.Close(); err != nil {
		return err
	}
	return nil
}

// joinSlices concatenates parts into one new slice, or returns the only part.
func joinSlices[E any](parts [][]E) []E {
	switch len(parts) {
	case 0:
		return nil
	case 1:
		return parts[0]
	}
	return slices.Concat(parts...)
}

// Flush flushes the inner store as partd.Flush does: the first
// partd.Flusher of its chain (a Buffer), if any.
func (e *Encoded[T]) Flush() error {
	if e.closed.Load() {
		return fmt.Errorf("encode: flush: %w", partd.ErrClosed)
	}
	return partd.Flush(e.inner)
}
