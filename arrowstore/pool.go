package arrowstore

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/gopartd/partd"
)

// Reading a key into a fresh slice costs more than the read: a large new
// allocation is zeroed and faulted in page by page (a Log's Get of 1 MiB
// measured 10-15 times slower than reading the same key into a slice that
// was used before). So where the inner store can read into the caller's
// memory and tell a key's size (a Dict, File, Log, Buffer), the Store reads
// keys into buffers from a pool, and a buffer goes back to the pool when
// the last batch that refers to it is released (arrow-go's reference
// counting, through memory.SliceBuffer). See the package documentation on
// lifetimes.

// Pooled buffers are sized in powers of two, from minPooled to maxPooled;
// keys outside that range get buffers of their own.
const (
	minPooledShift = 12 // 4 KiB
	maxPooledShift = 28 // 256 MiB
)

var rawPools [maxPooledShift + 1]sync.Pool

// getRaw returns a slice of length n: from the pool if n has a size
// class, else a new one.
func getRaw(n int) []byte {
	c := max(bits.Len(uint(n-1)), minPooledShift)
	if n <= 0 || c > maxPooledShift {
		return make([]byte, n)
	}
	if p, ok := rawPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putRaw returns b to its pool, if it came from one.
func putRaw(b []byte) {
	c := bits.Len(uint(cap(b))) - 1
	if c < minPooledShift || c > maxPooledShift || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	rawPools[c].Put(&b)
}

// rawFree is the allocator of a pooled key buffer: freeing it puts the
// bytes back in the pool, unless the decoder of the key failed. After a
// failure arrow-go's reference counts are not trusted (its readers can
// release a dictionary too often on corrupt bytes), so the bytes go to the
// garbage collector instead, which frees them only when nothing refers to
// them.
type rawFree struct{ failed atomic.Bool }

func (r *rawFree) Allocate(n int) []byte { return make([]byte, n) }

func (r *rawFree) Reallocate(n int, b []byte) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

func (r *rawFree) Free(b []byte) {
	if !r.failed.Load() {
		putRaw(b)
	}
}

// keyBytes is the bytes of a key, held by a reference-counted buffer:
// the decoder's reference, and one per buffer sliced from it.
type keyBytes struct {
	buf  *memory.Buffer
	free *rawFree // nil for bytes that are not pooled
}

// plainBytes wraps bytes that are not pooled.
func plainBytes(b []byte) keyBytes { return keyBytes{buf: memory.NewBufferBytes(b)} }

// fetch reads keys from the inner store: into pooled buffers where it is a
// partd.GetAppender and a partd.KeySizer (unless WithReadPool(false)),
// else with one Get.
func (s *Store) fetch(keys []string) ([]keyBytes, error) {
	ga, okGA := s.inner.(partd.GetAppender)
	ks, okKS := s.inner.(partd.KeySizer)
	if okGA && okKS && !s.opts.noPool && len(keys) > 0 {
		sizes, err := ks.Sizes(keys...)
		if err == nil && len(sizes) == len(keys) {
			dst := make([][]byte, len(keys))
			for i, n := range sizes {
				dst[i] = getRaw(int(n))[:0]
			}
			got, err := ga.GetAppend(dst, keys...)
			if err == nil && len(got) == len(keys) {
				out := make([]keyBytes, len(keys))
				for i, b := range got {
					if cap(dst[i]) > 0 && len(b) > 0 && &b[:1][0] == &dst[i][:1][0] {
						f := new(rawFree)
						out[i] = keyBytes{buf: memory.NewBufferWithAllocator(b, f), free: f}
						continue
					}
					putRaw(dst[i]) // the key grew meanwhile: GetAppend made its own slice
					out[i] = plainBytes(b)
				}
				return out, nil
			}
			for _, b := range dst {
				putRaw(b)
			}
			if err != nil && !isUnsupported(err) {
				return nil, err
			}
		} else if err != nil && !isUnsupported(err) {
			return nil, err
		}
	}
	raw, err := s.inner.Get(keys...)
	if err != nil {
		return nil, err
	}
	if len(raw) != len(keys) {
		return nil, errCount(len(raw), len(keys))
	}
	out := make([]keyBytes, len(keys))
	for i, b := range raw {
		out[i] = plainBytes(b)
	}
	return out, nil
}
