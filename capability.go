package partd

import (
	"fmt"
	"slices"
)

// Capabilities are optional interfaces a Store may implement beside Store,
// as io.WriterTo sits beside io.Writer. Each has a helper function that uses
// it when the store has it and falls back to the plain Store methods when it
// does not, so callers (Buffer, the server, the metrics, the command line)
// never look for concrete types. Layers that change bytes (compression,
// encodings) forward a capability only where its meaning survives them.

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
		return va.AppendVectors(keys, vecs)
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
		return ga.GetAppend(dst, keys...)
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
		return cv.ViewChunks(keys, fn)
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

// Flush flushes s if it is a Flusher; otherwise there is nothing to flush
// and it returns nil.
func Flush(s Store) error {
	if f, ok := s.(Flusher); ok {
		return f.Flush()
	}
	return nil
}

// Sizer is a Store that knows, without reading, how many bytes it holds in
// memory: a Dict its values, a Buffer its fast store.
type Sizer interface {
	Size() int64
}

// Size returns the bytes s holds in memory and true if s is a Sizer, and
// 0, false otherwise.
func Size(s Store) (int64, bool) {
	if sz, ok := s.(Sizer); ok {
		return sz.Size(), true
	}
	return 0, false
}
