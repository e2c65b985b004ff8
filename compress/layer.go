package compress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
)

// layer is a Store that compresses each value with c and stores it in inner
// as one frame.
type layer struct {
	inner    partd.Store
	c        codec
	maxValue int
	closed   atomic.Bool
}

var _ partd.Store = (*layer)(nil)

func newLayer(inner partd.Store, c codec, o options) *layer {
	return &layer{inner: inner, c: c, maxValue: o.maxValue}
}

// Work below these sizes is done on the caller's goroutine: spreading it costs
// more than it saves.
const (
	parallelMinBytes = 128 << 10 // a batch's input (Append) or stored bytes (Get)
	parallelMinShare = 32 << 10  // bytes per extra goroutine
)

// workers returns how many goroutines should share n items of total bytes.
func workers(n int, total int64) int {
	if n < 2 || total < parallelMinBytes {
		return 1
	}
	return int(min(int64(runtime.GOMAXPROCS(0)), int64(n), total/parallelMinShare))
}

// parallel runs fn(i) for every i in [0, n) on w goroutines (w = 1: the
// caller's) and returns when all are done.
func parallel(n, w int, fn func(worker, i int)) {
	if w <= 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for worker := range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(worker, i)
			}
		})
	}
	wg.Wait()
}

// arenas pools the buffers that compressed frames are written into. A buffer
// grown past maxPooledArena is left to the garbage collector.
var arenas sync.Pool

const maxPooledArena = 32 << 20

func getArena() []byte {
	if p, ok := arenas.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

func putArena(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledArena {
		return
	}
	arenas.Put(&b)
}

// appendFrame appends src compressed with c as one frame to dst.
func appendFrame(c codec, dst, src []byte) ([]byte, error) {
	at := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, 0)
	dst, err := c.encode(dst, src)
	if err != nil {
		return dst[:at], err
	}
	binary.LittleEndian.PutUint64(dst[at:], uint64(len(dst)-at-frame.HeaderLen))
	return dst, nil
}

func (l *layer) errClosed(op string) error {
	return fmt.Errorf("partd: %s: %s: %w", l.c.name(), op, partd.ErrClosed)
}

// Append compresses each value into one frame and appends the frames to
// inner in one call. Empty values are passed on empty, so inner validates
// their keys but stores nothing for them.
func (l *layer) Append(data map[string][]byte) error {
	if l.closed.Load() {
		return l.errClosed("append")
	}
	type item struct {
		key        string
		val        []byte
		arena      int // which worker's arena holds the frame
		start, end int
	}
	items := make([]item, 0, len(data))
	out := make(map[string][]byte, len(data))
	var total int64
	for k, v := range data {
		if len(v) > l.maxValue {
			return fmt.Errorf("partd: %s: append %q: %d bytes: %w", l.c.name(), k, len(v), ErrTooLarge)
		}
		if len(v) == 0 {
			out[k] = nil
			continue
		}
		items = append(items, item{key: k, val: v})
		total += int64(len(v))
	}
	w := workers(len(items), total)
	bufs := make([][]byte, w)
	errs := make([]error, w)
	for i := range bufs {
		bufs[i] = getArena()
	}
	parallel(len(items), w, func(worker, i int) {
		if errs[worker] != nil {
			return
		}
		it := &items[i]
		it.arena, it.start = worker, len(bufs[worker])
		bufs[worker], errs[worker] = appendFrame(l.c, bufs[worker], it.val)
		it.end = len(bufs[worker])
	})
	defer func() {
		for _, b := range bufs {
			putArena(b)
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("partd: %s: append: %w", l.c.name(), err)
	}
	for _, it := range items {
		out[it.key] = bufs[it.arena][it.start:it.end:it.end]
	}
	return l.inner.Append(out)
}

// Get returns the decompressed bytes of each key: the concatenation of its
// frames' values.
func (l *layer) Get(keys ...string) ([][]byte, error) {
	if l.closed.Load() {
		return nil, l.errClosed("get")
	}
	raws, err := l.inner.Get(keys...)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, r := range raws {
		total += int64(len(r))
	}
	out := make([][]byte, len(raws))
	errs := make([]error, len(raws))
	parallel(len(raws), workers(len(raws), total), func(_, i int) {
		out[i], errs[i] = l.decodeKey(keys[i], raws[i])
		raws[i] = nil // let the stored bytes go as soon as they are decoded
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// corrupt returns the error for key's frame i.
func (l *layer) corrupt(key string, i int, err error) error {
	return fmt.Errorf("partd: %s: key %q: frame %d: %w: %v", l.c.name(), key, i, partd.ErrCorrupt, err)
}

// decodeKey decodes every frame of raw, the stored bytes of key.
func (l *layer) decodeKey(key string, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	frames, err := frame.Split(raw)
	if err != nil {
		return nil, fmt.Errorf("partd: %s: key %q: %w", l.c.name(), key, err)
	}
	return l.decodeFrames(key, frames)
}

// decodeFrames decodes frames and concatenates their values.
func (l *layer) decodeFrames(key string, frames [][]byte) ([]byte, error) {
	// Size the result once from the sizes the frames declare, but allocate no
	// more than the stored bytes could plausibly hold before decoding proves
	// it: hostile frames can declare sizes they do not contain.
	var want, stored int64
	for i, f := range frames {
		n, err := l.c.sizeHint(f, l.maxValue)
		if err != nil {
			return nil, l.corrupt(key, i, err)
		}
		if n < 0 {
			n = 4 * len(f)
		}
		want += int64(n)
		stored += int64(len(f))
	}
	// The slack is what a codec may want past the end (zstdSlack), so the
	// last frame does not reallocate the result.
	out := make([]byte, 0, min(want, 64*stored+1<<20)+64)
	for i, f := range frames {
		var err error
		if out, err = l.c.decode(out, f, l.maxValue); err != nil {
			return nil, l.corrupt(key, i, err)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Set stores value, compressed, as key's only frame. An empty value deletes
// the key.
func (l *layer) Set(key string, value []byte) error {
	if l.closed.Load() {
		return l.errClosed("set")
	}
	if len(value) == 0 {
		return l.inner.Set(key, nil)
	}
	if len(value) > l.maxValue {
		return fmt.Errorf("partd: %s: set %q: %d bytes: %w", l.c.name(), key, len(value), ErrTooLarge)
	}
	buf, err := appendFrame(l.c, getArena(), value)
	defer putArena(buf)
	if err != nil {
		return fmt.Errorf("partd: %s: set %q: %w", l.c.name(), key, err)
	}
	return l.inner.Set(key, buf)
}

// Delete removes keys from inner.
func (l *layer) Delete(keys ...string) error {
	if l.closed.Load() {
		return l.errClosed("delete")
	}
	return l.inner.Delete(keys...)
}

// Keys returns inner's keys.
func (l *layer) Keys() ([]string, error) {
	if l.closed.Load() {
		return nil, l.errClosed("keys")
	}
	return l.inner.Keys()
}

// Drop empties inner.
func (l *layer) Drop() error {
	if l.closed.Load() {
		return l.errClosed("drop")
	}
	return l.inner.Drop()
}

// Close closes inner. Later calls return ErrClosed; a second Close returns nil
// and leaves inner alone.
func (l *layer) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	return l.inner.Close()
}
