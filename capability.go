package partd

import (
	"container/heap"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Capabilities are optional interfaces a Store may implement beside Store,
// as io.WriterTo sits beside io.Writer. Each has a helper function that uses
// it when the store has it and falls back to the plain Store methods when it
// does not, so callers (Buffer, the server, the metrics, the command line)
// never look for concrete types.
//
// The fallback rule: a capability method may return an error wrapping
// errors.ErrUnsupported when it cannot serve the call after all (a client
// whose server lacks the extension), having done nothing; every helper
// then falls back as if the store did not have the capability.
//
// Wrappers: a Store that stores into another under the same keys (a
// compression layer) is a Wrapper, and its Unwrap returns that store, as
// net/http's ResponseController finds a ResponseWriter's methods through
// Unwrap. The capabilities about keys and about the store as a whole
// (PrefixLister, KeyPager, Flusher, Sizer, BufferStater) are found through
// the chain (see Find): the first store of it that has one answers, so a
// wrapper need not forward them and never claims one its inner store lacks.
// The capabilities about values (VectorAppender, GetAppender, ChunkViewer,
// KeySizer, Popper, and KeyReader in reader.go) are the store's own: a
// layer that changes the bytes implements them itself where their meaning
// survives it, or not at all.

// Wrapper is a Store that keeps its data in another store, under the same
// keys: Unwrap returns that store.
type Wrapper interface {
	Store
	Unwrap() Store
}

// Find returns the first store of s's chain (s, then what its Unwrap
// returns, and so on) that is a T, and true; or T's zero value and false.
func Find[T any](s Store) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		w, ok := s.(Wrapper)
		if !ok {
			break
		}
		s = w.Unwrap()
	}
	var zero T
	return zero, false
}

// unsupported reports whether err says a capability cannot serve a call
// (see the fallback rule above).
func unsupported(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// VectorAppender is a Store that appends a value given in pieces without
// joining them first: a Buffer spills a Dict's chunks through it with no
// staging copy.
type VectorAppender interface {
	// AppendVectors appends, for each i, the concatenation of vecs[i] to
	// keys[i]. keys must be distinct; the key rules and the atomicity of
	// Append apply to the whole call. It must not retain vecs.
	AppendVectors(keys []string, vecs [][][]byte) error
}

// AppendVectors appends, for each i, the concatenation of vecs[i] to keys[i]
// in s: with s's own AppendVectors if it has one, else by joining each
// value and calling Append. Keys that repeat are an ErrInvalidKey error.
func AppendVectors(s Store, keys []string, vecs [][][]byte) error {
	if len(keys) != len(vecs) {
		return fmt.Errorf("partd: append: %d keys but %d values", len(keys), len(vecs))
	}
	if va, ok := s.(VectorAppender); ok {
		if err := va.AppendVectors(keys, vecs); !unsupported(err) {
			return err
		}
	}
	batch := make(map[string][]byte, len(keys))
	for i, k := range keys {
		if _, dup := batch[k]; dup {
			return fmt.Errorf("partd: append %q: %w: key repeats in the batch", k, ErrInvalidKey)
		}
		if len(vecs[i]) == 1 {
			batch[k] = vecs[i][0] // Append copies or writes it: no need to join
		} else {
			batch[k] = slices.Concat(vecs[i]...)
		}
	}
	return s.Append(batch)
}

// vectorBatch checks a vectored batch as Append checks a map: lengths match,
// keys are valid, distinct and do not conflict with each other. It returns
// the batch's keys as a set of their value sizes.
func vectorBatch(keys []string, vecs [][][]byte) (map[string]int, error) {
	if len(keys) != len(vecs) {
		return nil, fmt.Errorf("partd: append: %d keys but %d values", len(keys), len(vecs))
	}
	sizes := make(map[string]int, len(keys))
	for i, k := range keys {
		if _, dup := sizes[k]; dup {
			return nil, fmt.Errorf("partd: append %q: %w: key repeats in the batch", k, ErrInvalidKey)
		}
		n := 0
		for _, p := range vecs[i] {
			n += len(p)
		}
		sizes[k] = n
	}
	if err := ValidateBatch(sizes); err != nil {
		return nil, err
	}
	return sizes, nil
}

// GetAppender is a Store that reads into the caller's buffers, so a reader
// that reuses its buffers allocates nothing per Get.
type GetAppender interface {
	// GetAppend appends each key's bytes to dst[i] and returns the extended
	// slices, as the built-in append does. dst is nil or has one slice per
	// key. An unknown key leaves its slice as it was. A slice that must
	// grow grows once, and keeps the spare capacity it had beyond the
	// key's bytes, so a caller that will append more (a Buffer appending
	// its memory after its disk) passes a slice with room for that.
	GetAppend(dst [][]byte, keys ...string) ([][]byte, error)
}

// getAppendDst returns dst, or one nil slice per key if dst is nil, and
// checks that it has one slice per key.
func getAppendDst(dst [][]byte, keys []string) ([][]byte, error) {
	if dst == nil {
		return make([][]byte, len(keys)), nil
	}
	if len(dst) != len(keys) {
		return nil, fmt.Errorf("partd: get: %d buffers for %d keys", len(dst), len(keys))
	}
	return dst, nil
}

// GetAppend appends each key's bytes in s to dst[i] and returns the
// extended slices: with s's own GetAppend if it has one, else with Get and
// a copy. dst is nil or has one slice per key.
func GetAppend(s Store, dst [][]byte, keys ...string) ([][]byte, error) {
	if _, err := getAppendDst(dst, keys); err != nil {
		return nil, err
	}
	if ga, ok := s.(GetAppender); ok {
		out, err := ga.GetAppend(dst, keys...)
		if !unsupported(err) {
			return out, err
		}
	}
	vals, err := s.Get(keys...)
	if err != nil {
		return nil, err
	}
	if dst == nil {
		return vals, nil
	}
	for i := range vals {
		if len(dst[i]) == 0 && cap(dst[i]) < len(vals[i]) {
			dst[i] = vals[i] // nothing to keep: take Get's slice
			continue
		}
		dst[i] = append(dst[i], vals[i]...)
	}
	return dst, nil
}

// ChunkViewer is a Store that shows the bytes it holds in place, as the
// pieces it keeps them in, without copying.
type ChunkViewer interface {
	// ViewChunks calls fn once with, for each key, the pieces whose
	// concatenation is that key's bytes (nil for an unknown key). The pieces
	// are valid only while fn runs, and fn must not change them. The store
	// may hold a lock while fn runs: fn must not call s.
	ViewChunks(keys []string, fn func(chunks [][][]byte) error) error
}

// ViewChunks calls fn with the bytes of keys in s as pieces: s's own views
// if it is a ChunkViewer, else one piece per key read with Get.
func ViewChunks(s Store, keys []string, fn func(chunks [][][]byte) error) error {
	if cv, ok := s.(ChunkViewer); ok {
		if err := cv.ViewChunks(keys, fn); !unsupported(err) {
			return err
		}
	}
	vals, err := s.Get(keys...)
	if err != nil {
		return err
	}
	chunks := make([][][]byte, len(vals))
	for i, v := range vals {
		if len(v) > 0 {
			chunks[i] = [][]byte{v}
		}
	}
	return fn(chunks)
}

// Flusher is a Store that holds data on its way somewhere (a Buffer's fast
// store, a compression layer's pending frames) and can push it there now.
type Flusher interface {
	Flush() error
}

// Flush flushes the first Flusher of s's chain (see Find); where there is
// none, there is nothing to flush and it returns nil.
func Flush(s Store) error {
	if f, ok := Find[Flusher](s); ok {
		if err := f.Flush(); !unsupported(err) {
			return err
		}
	}
	return nil
}

// Sizer is a Store that knows, without reading, how many bytes it holds in
// memory: a Dict its values, a Buffer its fast store.
type Sizer interface {
	Size() int64
}

// Size returns the bytes held in memory by the first Sizer of s's chain
// (see Find) and true, or 0 and false where there is none: a compression
// layer over a Buffer reports the Buffer's memory, one over a File nothing.
func Size(s Store) (int64, bool) {
	if sz, ok := Find[Sizer](s); ok {
		return sz.Size(), true
	}
	return 0, false
}

// BufferStater is a Store that reports a Buffer's figures: a Buffer.
type BufferStater interface {
	Stats() BufferStats
}

// BufferStatsOf returns the figures of the first BufferStater of s's chain
// (see Find), a Buffer under any number of layers, and true; or zero
// figures and false where there is none.
func BufferStatsOf(s Store) (BufferStats, bool) {
	if b, ok := Find[BufferStater](s); ok {
		return b.Stats(), true
	}
	return BufferStats{}, false
}

// KeySizer is a Store that tells how many bytes keys hold without reading
// them: a Dict or a Log from its index, a File from the files' sizes, a
// client with one small request.
//
// Layers that change bytes (compression, encodings) do not forward it: the
// sizes of what they store are not the sizes of the values they return.
type KeySizer interface {
	// Sizes returns, for each key, the number of bytes Get would return
	// for it: 0 for a key that holds nothing (which, by the contract, does
	// not exist).
	Sizes(keys ...string) ([]int64, error)
}

// sizesChunk is how many keys the fallback of Sizes reads at a time, so
// that it holds a few values in memory rather than all of them.
const sizesChunk = 16

// Sizes returns the number of bytes each key holds in s: with s's own
// Sizes if it is a KeySizer, else by reading the keys with Get, a few at a
// time, and measuring them. Each size is the length Get would return.
func Sizes(s Store, keys ...string) ([]int64, error) {
	if ks, ok := s.(KeySizer); ok {
		sizes, err := ks.Sizes(keys...)
		if !unsupported(err) {
			return sizes, err
		}
	}
	sizes := make([]int64, len(keys))
	for i := 0; i < len(keys); i += sizesChunk {
		chunk := keys[i:min(i+sizesChunk, len(keys))]
		vals, err := s.Get(chunk...)
		if err != nil {
			return nil, err
		}
		if len(vals) != len(chunk) {
			return nil, fmt.Errorf("partd: sizes: store returned %d values for %d keys", len(vals), len(chunk))
		}
		for j, v := range vals {
			sizes[i+j] = int64(len(v))
		}
	}
	return sizes, nil
}

// PrefixLister is a Store that lists the keys that start with a prefix
// without listing every key: a File reads the one directory the prefix
// names, a client asks its server for those keys only.
//
// The prefix is a plain string prefix, so tuple keys list naturally:
// "df/" lists the parts of table df (and the tuple keys under them, such as
// "df/a/b"), "df/part-" the parts whose names start with "part-", "df" the
// keys of df and keys such as "dfx", and "" every key.
type PrefixLister interface {
	// KeysPrefix returns, sorted, every key that holds bytes and starts
	// with prefix.
	KeysPrefix(prefix string) ([]string, error)
}

// KeysPrefix returns, sorted, the keys of s that start with prefix: with
// the KeysPrefix of the first PrefixLister of s's chain (see Find), else by
// filtering Keys.
func KeysPrefix(s Store, prefix string) ([]string, error) {
	if pl, ok := Find[PrefixLister](s); ok {
		keys, err := pl.KeysPrefix(prefix)
		if !unsupported(err) {
			return keys, err
		}
	}
	keys, err := s.Keys()
	if err != nil {
		return nil, err
	}
	return filterPrefix(keys, prefix), nil
}

// filterPrefix keeps, in place, the keys that start with prefix.
func filterPrefix(keys []string, prefix string) []string {
	if prefix == "" {
		return keys
	}
	return slices.DeleteFunc(keys, func(k string) bool { return !strings.HasPrefix(k, prefix) })
}

// KeyPager is a Store that lists its keys a page at a time, so a caller
// walks millions of keys holding one page (All does). Dict, Log and a
// Buffer of them page from their indexes, scanning them once per page; a
// client asks its server for one page per request.
type KeyPager interface {
	// KeysPage returns, sorted, at most limit keys that hold bytes, start
	// with prefix and sort after after (the last key of the previous page,
	// or "" for the first page). It returns fewer than limit keys only when
	// there are no more. limit must be positive.
	KeysPage(prefix, after string, limit int) ([]string, error)
}

// KeysPage returns, sorted, at most limit keys of s that start with prefix
// and sort after after: with the KeysPage of the first KeyPager of s's
// chain (see Find), else by listing the keys with KeysPrefix and cutting the
// page out of them (which lists every key with the prefix for each page).
func KeysPage(s Store, prefix, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("partd: keys page: limit %d is not positive", limit)
	}
	if kp, ok := Find[KeyPager](s); ok {
		keys, err := kp.KeysPage(prefix, after, limit)
		if !unsupported(err) {
			return keys, err
		}
	}
	keys, err := KeysPrefix(s, prefix)
	if err != nil {
		return nil, err
	}
	return cutPage(keys, after, limit), nil
}

// cutPage returns the page of sorted keys that follows after: at most limit
// keys, all greater than after.
func cutPage(keys []string, after string, limit int) []string {
	i, found := slices.BinarySearch(keys, after)
	if found {
		i++
	}
	keys = keys[i:]
	return keys[:min(len(keys), limit):min(len(keys), limit)]
}

// pageSize is how many keys All asks for at a time.
const pageSize = 1 << 14

// All returns an iterator over the keys of s that start with prefix, in
// sorted order, each with a nil error. If listing fails, it yields "" and
// the error once, and stops.
//
// Where s's chain has a KeyPager (a Dict, a Log, a Buffer of them, a
// client) All
// lists the keys in pages of 16,384, so walking millions of keys holds one
// page at a time and a client asks for one page per request; elsewhere it
// lists them with KeysPrefix, once. A key that holds bytes during the whole
// iteration is yielded exactly once; one added or removed meanwhile may or
// may not be. The loop body may change s, for instance Pop or Delete the
// key it was given:
//
//	for key, err := range partd.All(s, "df/") {
//		if err != nil {
//			return err
//		}
//		vals, err := partd.Pop(s, key)
//		...
//	}
func All(s Store, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		after := ""
		if kp, ok := Find[KeyPager](s); ok {
			for {
				page, err := kp.KeysPage(prefix, after, pageSize)
				if unsupported(err) && after == "" {
					break // list them all at once below
				}
				if err != nil {
					yield("", err)
					return
				}
				for _, k := range page {
					if !yield(k, nil) {
						return
					}
				}
				if len(page) < pageSize {
					return
				}
				after = page[len(page)-1]
			}
		}
		keys, err := KeysPrefix(s, prefix)
		if err != nil {
			yield("", err)
			return
		}
		for _, k := range keys {
			if !yield(k, nil) {
				return
			}
		}
	}
}

// smallestAfter returns, sorted, the limit smallest keys of seq that start
// with prefix and sort after after. It holds at most limit keys (a max-heap
// of them, on container/heap as internal/sizeheap is), so a page of a large
// index costs one scan of it and little memory.
func smallestAfter(seq iter.Seq[string], prefix, after string, limit int) []string {
	var h maxKeys // h[0] is the largest key kept
	for k := range seq {
		switch {
		case k <= after || !strings.HasPrefix(k, prefix):
		case len(h) < limit:
			heap.Push(&h, k)
		case k < h[0]:
			h[0] = k
			heap.Fix(&h, 0)
		}
	}
	slices.Sort(h)
	return h
}

// maxKeys is a max-heap of keys, for container/heap.
type maxKeys []string

func (h maxKeys) Len() int           { return len(h) }
func (h maxKeys) Less(i, j int) bool { return h[i] > h[j] }
func (h maxKeys) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxKeys) Push(x any)        { *h = append(*h, x.(string)) }
func (h *maxKeys) Pop() any {
	k := (*h)[len(*h)-1]
	*h = (*h)[:len(*h)-1]
	return k
}

// Popper is a Store that gets keys and deletes them in one step, Python
// partd's pop: a reducer frees a partition as it takes it, and no append
// can land between the read and the delete and be lost.
type Popper interface {
	// Pop returns each key's bytes, as Get would (nil for a key that holds
	// nothing), and deletes the keys, atomically: appends to the keys from
	// other goroutines (or processes) land before the Pop, and are
	// returned, or after it, and stay.
	Pop(keys ...string) ([][]byte, error)
}

// Pop returns the bytes of keys in s and deletes them: with s's own Pop if
// it is a Popper, atomically; else with Get and then Delete, which is not
// atomic: bytes appended to a key between the two are deleted without
// being returned. If Pop returns an error, the keys may or may not have
// been deleted.
func Pop(s Store, keys ...string) ([][]byte, error) {
	if p, ok := s.(Popper); ok {
		vals, err := p.Pop(keys...)
		if !unsupported(err) {
			return vals, err
		}
	}
	vals, err := s.Get(keys...)
	if err != nil {
		return nil, err
	}
	if err := s.Delete(keys...); err != nil {
		return nil, err
	}
	return vals, nil
}
