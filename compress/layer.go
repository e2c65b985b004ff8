package compress

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gopartd/partd"
	"github.com/gopartd/partd/internal/frame"
	"github.com/gopartd/partd/internal/par"
)

// layer is a Store that compresses each value with c and stores it in inner
// as one frame.
type layer struct {
	inner    partd.Store
	c        codec
	maxValue int
	optErr   error // an option the constructor could not apply: every call returns it
	closed   atomic.Bool
}

// A layer is a partd.Wrapper: it stores each key under the same key in
// inner, so the helpers find the capabilities about keys and about the
// store (listing keys, Flush, Size, a Buffer's figures) in inner through
// Unwrap, and a layer over a store without them has none. Of the
// capabilities about values it has Pop, whose values it decodes. It is not
// a partd.KeySizer: the sizes of the frames it stores are not the sizes of
// the values Get returns, so partd.Sizes reads and decodes the values to
// measure them.
var (
	_ partd.Store   = (*layer)(nil)
	_ partd.Wrapper = (*layer)(nil)
	_ partd.Popper  = (*layer)(nil)
)

func newLayer(inner partd.Store, c codec, o options, optErr error) *layer {
	return &layer{inner: inner, c: c, maxValue: o.maxValue, optErr: optErr}
}

// Err returns the error of an option the constructor of s, a layer of this
// package, could not apply (every call of s returns it), or nil.
func Err(s partd.Store) error {
	if l, ok := s.(*layer); ok {
		return l.optErr
	}
	return nil
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
	dst, at := frame.Reserve(dst)
	dst, err := c.encode(dst, src)
	if err != nil {
		return dst[:at], err
	}
	frame.Seal(dst, at)
	return dst, nil
}

func (l *layer) errClosed(op string) error {
	return fmt.Errorf("partd: %s: %s: %w", l.c.name(), op, partd.ErrClosed)
}

// unusable returns why the layer cannot serve op: closed, or built with a
// bad option.
func (l *layer) unusable(op string) error {
	if l.closed.Load() {
		return l.errClosed(op)
	}
	return l.optErr
}

// Append compresses each value into one frame and appends the frames to
// inner in one call. Empty values are passed on empty, so inner validates
// their keys but stores nothing for them.
func (l *layer) Append(data map[string][]byte) error {
	if err := l.unusable("append"); err != nil {
		return err
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
	par.Do(len(items), w, func(worker, i int) {
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
//
// Where frames declare their decoded sizes (zstd, snappy), each key's result
// is allocated once and cut into runs of frames that decode in parallel into
// their places, so one large key uses every core too. Other keys (zlib, or
// sizes too large to trust before decoding) decode whole, in parallel with
// the rest.
func (l *layer) Get(keys ...string) ([][]byte, error) {
	if err := l.unusable("get"); err != nil {
		return nil, err
	}
	raws, err := l.inner.Get(keys...)
	if err != nil {
		return nil, err
	}
	return l.decodeKeys(keys, raws)
}

// decodeKeys decodes the stored bytes of each key, raws[i] for keys[i], as
// Get describes.
func (l *layer) decodeKeys(keys []string, raws [][]byte) ([][]byte, error) {
	if len(raws) != len(keys) {
		return nil, fmt.Errorf("partd: %s: inner store returned %d values for %d keys", l.c.name(), len(raws), len(keys))
	}
	out := make([][]byte, len(keys))
	var runs []run
	var stored int64
	for i, raw := range raws {
		if len(raw) == 0 {
			continue
		}
		frames, err := frame.Split(raw)
		if err != nil {
			return nil, fmt.Errorf("partd: %s: key %q: %w", l.c.name(), keys[i], err)
		}
		stored += int64(len(raw))
		if runs, err = l.planKey(runs, i, keys[i], frames, &out[i]); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(runs))
	par.Do(len(runs), workers(len(runs), stored), func(_, r int) {
		errs[r] = l.decodeRun(keys, out, &runs[r])
	})
	// Runs are in key order, then frame order: the first error is the
	// earliest.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for i, v := range out {
		if len(v) == 0 {
			out[i] = nil
		}
	}
	return out, nil
}

// A run is consecutive frames of one key that one goroutine decodes.
type run struct {
	key    int      // index of the key in Get's arguments
	first  int      // index among the key's frames of frames[0], for errors
	frames [][]byte // compressed values
	// dst is where the values go, out[key][from:from:end], sized to them
	// (plus the slack after the key's last value); nil means decode the
	// key whole into a buffer of its own.
	dst []byte
}

// minRun is the decoded size below which a key's frames are not cut into
// more runs.
const minRun = 128 << 10

// planKey appends the runs that decode one key's frames to runs, allocating
// the key's result in *out when the frames declare sizes it can trust.
func (l *layer) planKey(runs []run, i int, key string, frames [][]byte, out *[]byte) ([]run, error) {
	sizes := make([]int, len(frames))
	var total int64
	for j, f := range frames {
		n, err := l.c.sizeHint(f, l.maxValue)
		if err != nil {
			return runs, l.corrupt(key, j, f, err)
		}
		if n < 0 {
			return append(runs, run{key: i, frames: frames}), nil
		}
		sizes[j] = n
		total += int64(n)
	}
	var stored int64
	for _, f := range frames {
		stored += int64(len(f))
	}
	if total > plausible(stored) {
		// Claims this large are checked frame by frame as they decode,
		// growing the result only as far as the data proves.
		return append(runs, run{key: i, frames: frames}), nil
	}
	buf := make([]byte, total, total+decodeSlack)
	*out = buf
	first, from, acc := 0, 0, 0
	for j, n := range sizes {
		acc += n
		if acc < minRun && j < len(sizes)-1 {
			continue
		}
		to, end := from+acc, from+acc
		if j == len(sizes)-1 {
			end = cap(buf)
		}
		runs = append(runs, run{key: i, first: first, frames: frames[first : j+1], dst: buf[from:from:end]})
		first, from, acc = j+1, to, 0
	}
	return runs, nil
}

// decodeSlack is spare capacity after a result, which codecs may use
// (zstdSlack), so the last frame decodes in place too.
const decodeSlack = 64

// plausible bounds the bytes a key's stored bytes may be trusted to decode to
// before decoding proves it.
func plausible(stored int64) int64 { return 64*stored + 1<<20 }

// decodeRun decodes r into its place in out.
func (l *layer) decodeRun(keys []string, out [][]byte, r *run) error {
	key := keys[r.key]
	if r.dst == nil {
		v, err := l.decodeFrames(key, r.frames)
		out[r.key] = v
		return err
	}
	dst := r.dst
	for j, f := range r.frames {
		var err error
		if dst, err = l.c.decode(dst, f, l.maxValue); err != nil {
			return l.corrupt(key, r.first+j, f, err)
		}
	}
	if cap(dst) != cap(r.dst) {
		// A codec outgrew the declared sizes it checked; cannot happen.
		return fmt.Errorf("partd: %s: key %q: frames %d to %d decoded past their declared sizes: %w",
			l.c.name(), key, r.first, r.first+len(r.frames)-1, partd.ErrCorrupt)
	}
	return nil
}

// corrupt returns the error for key's frame i, f, which failed to decode
// with err. It names no library (klauspost's snappy reports "s2: corrupt
// input"), and where the frame looks like another codec's, or the first
// frame fails, it says the store may hold another codec.
func (l *layer) corrupt(key string, i int, f []byte, err error) error {
	detail := err.Error()
	for _, lib := range []string{"s2: ", "snappy: ", "zstd: ", "zlib: ", "flate: "} {
		detail = strings.TrimPrefix(detail, lib)
	}
	if detail == "corrupt input" {
		detail = ""
	} else {
		detail = ": " + detail
	}
	hint := ""
	switch other := sniff(f); {
	case other != "" && other != l.c.name():
		hint = fmt.Sprintf(" (the frame looks like %s: the store may hold another codec?)", other)
	case i == 0 && other == "":
		hint = " (the store may hold another codec, or none?)"
	}
	return fmt.Errorf("partd: %s: key %q: frame %d: %w%s%s", l.c.name(), key, i, partd.ErrCorrupt, detail, hint)
}

// sniff returns the codec whose output f looks like, "zstd" or "zlib", or
// "" (snappy's block format has no signature to tell).
func sniff(f []byte) string {
	switch {
	case len(f) >= 4 && f[0] == 0x28 && f[1] == 0xb5 && f[2] == 0x2f && f[3] == 0xfd:
		return "zstd"
	case len(f) >= 2 && f[0]&0x0f == 8 && f[0]>>4 <= 7 && (uint16(f[0])<<8|uint16(f[1]))%31 == 0:
		return "zlib"
	}
	return ""
}

// decodeFrames decodes frames and concatenates their values, growing the
// result as they prove their sizes.
func (l *layer) decodeFrames(key string, frames [][]byte) ([]byte, error) {
	// Size the result once from the sizes the frames declare, but allocate no
	// more than the stored bytes could plausibly hold before decoding proves
	// it: hostile frames can declare sizes they do not contain.
	var want, stored int64
	for i, f := range frames {
		n, err := l.c.sizeHint(f, l.maxValue)
		if err != nil {
			return nil, l.corrupt(key, i, f, err)
		}
		if n < 0 {
			n = 4 * len(f)
		}
		want += int64(n)
		stored += int64(len(f))
	}
	out := make([]byte, 0, min(want, plausible(stored))+decodeSlack)
	for i, f := range frames {
		var err error
		if out, err = l.c.decode(out, f, l.maxValue); err != nil {
			return nil, l.corrupt(key, i, f, err)
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
	if err := l.unusable("set"); err != nil {
		return err
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
	if err := l.unusable("delete"); err != nil {
		return err
	}
	return l.inner.Delete(keys...)
}

// Keys returns inner's keys.
func (l *layer) Keys() ([]string, error) {
	if err := l.unusable("keys"); err != nil {
		return nil, err
	}
	return l.inner.Keys()
}

// Unwrap returns the store the layer keeps its frames in (see
// partd.Wrapper), or nil for a layer built with a bad option, whose every
// call fails with the option's error.
func (l *layer) Unwrap() partd.Store {
	if l.optErr != nil {
		return nil
	}
	return l.inner
}

// Pop pops the keys from inner (see partd.Pop: atomic where inner is a
// partd.Popper) and decodes what it popped. A key whose frames do not
// decode is an ErrCorrupt error, and is gone from inner all the same.
func (l *layer) Pop(keys ...string) ([][]byte, error) {
	if err := l.unusable("pop"); err != nil {
		return nil, err
	}
	raws, err := partd.Pop(l.inner, keys...)
	if err != nil {
		return nil, err
	}
	return l.decodeKeys(keys, raws)
}

// Drop empties inner.
func (l *layer) Drop() error {
	if err := l.unusable("drop"); err != nil {
		return err
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
