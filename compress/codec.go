package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// A codec compresses and decompresses single values. Every method is safe for
// concurrent use.
type codec interface {
	// name is the algorithm's name for error messages: "zstd".
	name() string
	// encode appends the compressed form of src to dst.
	encode(dst, src []byte) ([]byte, error)
	// sizeHint returns the decoded size that src declares, or -1 if it
	// declares none. A declared size that is impossible or above max is an
	// error; a hint is otherwise not trusted further than that.
	sizeHint(src []byte, max int) (int, error)
	// decode appends the decoded form of src to dst. Output beyond max bytes
	// is an error.
	decode(dst, src []byte, max int) ([]byte, error)
}

var errTooLong = errors.New("decodes to more than the maximum value size")

// ---- zstd ----

// maxZstdRatio bounds how far a valid zstd frame can expand: a block yields at
// most 128 KiB and one that yields anything takes at least 4 bytes (an RLE
// block: a 3-byte header and the byte).
const maxZstdRatio = 128 << 10 / 4

// zstdSlack is the spare capacity the zstd decoder needs past a block to use
// its fast copy loops (compressedBlockOverAlloc in klauspost/compress/zstd).
const zstdSlack = 16

type zstdCodec struct {
	enc func() (*zstd.Encoder, error)
	dec func() (*zstd.Decoder, error)
}

// zstdLevel maps a zstd command-line level (0 = DefaultZstdLevel) onto the
// encoder's speeds.
func zstdLevel(level int) (zstd.EncoderLevel, error) {
	switch {
	case level == 0:
		return zstd.EncoderLevelFromZstd(DefaultZstdLevel), nil
	case level < 1 || level > 22:
		return 0, fmt.Errorf("partd: zstd: invalid level %d: want 1 to 22, or 0 for the default", level)
	}
	return zstd.EncoderLevelFromZstd(level), nil
}

func newZstdCodec(level zstd.EncoderLevel, maxValue int) zstdCodec {
	return zstdCodec{
		enc: sync.OnceValues(func() (*zstd.Encoder, error) { return sharedZstdEncoder(level) }),
		dec: sync.OnceValues(func() (*zstd.Decoder, error) { return sharedZstdDecoder(maxValue) }),
	}
}

// zstdShared holds the process's zstd encoders and decoders. Both types are
// safe for concurrent EncodeAll/DecodeAll and start no goroutine for them, so
// they are never closed.
var zstdShared struct {
	mu  sync.Mutex // guards both maps
	enc map[zstd.EncoderLevel]*zstd.Encoder
	dec map[int]*zstd.Decoder
}

func sharedZstdEncoder(level zstd.EncoderLevel) (*zstd.Encoder, error) {
	zstdShared.mu.Lock()
	defer zstdShared.mu.Unlock()
	if e, ok := zstdShared.enc[level]; ok {
		return e, nil
	}
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderCRC(true),
		zstd.WithEncoderConcurrency(0), // GOMAXPROCS
		zstd.WithZeroFrames(true),
		// Entropy-code the literals of blocks in which the encoder found no
		// match. The fastest speed skips that by default, which stores text
		// that repeats no 6-byte run but uses few byte values (the lines of
		// `seq 1 100000`) uncompressed, where zstd -1 gives 2.4x; random
		// data is still detected as incompressible and stored raw.
		zstd.WithAllLitEntropyCompression(true),
		// Every frame declares its size and needs no window beyond it, so a
		// reader's limit on value size bounds its memory too.
		zstd.WithSingleSegment(true))
	if err != nil {
		return nil, fmt.Errorf("partd: zstd: new encoder: %w", err)
	}
	if zstdShared.enc == nil {
		zstdShared.enc = make(map[zstd.EncoderLevel]*zstd.Encoder)
	}
	zstdShared.enc[level] = e
	return e, nil
}

func sharedZstdDecoder(maxValue int) (*zstd.Decoder, error) {
	zstdShared.mu.Lock()
	defer zstdShared.mu.Unlock()
	if d, ok := zstdShared.dec[maxValue]; ok {
		return d, nil
	}
	// The decoder's own limits count from the start of dst, not from where
	// DecodeAll appends, and a frame's window is at least 1 KiB; decode
	// bounds each frame exactly instead (cap limit, declared size).
	limit := uint64(max(maxValue, zstd.MinWindowSize))
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0), // GOMAXPROCS
		zstd.WithDecoderMaxMemory(limit),
		zstd.WithDecoderMaxWindow(limit),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("partd: zstd: new decoder: %w", err)
	}
	if zstdShared.dec == nil {
		zstdShared.dec = make(map[int]*zstd.Decoder)
	}
	zstdShared.dec[maxValue] = d
	return d, nil
}

func (zstdCodec) name() string { return "zstd" }

func (c zstdCodec) encode(dst, src []byte) ([]byte, error) {
	e, err := c.enc()
	if err != nil {
		return dst, err
	}
	return e.EncodeAll(src, dst), nil
}

func (zstdCodec) sizeHint(src []byte, maxValue int) (int, error) {
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return 0, err
	}
	if src[4]&0x10 != 0 {
		// The frame header's unused bit: decoders ignore it, our encoder
		// never sets it, so a set one is a flipped bit.
		return 0, errors.New("zstd frame header has the unused bit set")
	}
	if h.Skippable || !h.HasFCS {
		// Our encoder always declares the size (single segment), and so
		// does Python's zstandard.compress.
		return 0, errors.New("zstd frame declares no content size")
	}
	if h.FrameContentSize > uint64(maxValue) {
		return 0, fmt.Errorf("declares %d bytes: %w", h.FrameContentSize, errTooLong)
	}
	if h.FrameContentSize > uint64(len(src))*maxZstdRatio {
		return 0, fmt.Errorf("declares %d bytes, impossible for %d compressed bytes", h.FrameContentSize, len(src))
	}
	return int(h.FrameContentSize), nil
}

func (c zstdCodec) decode(dst, src []byte, maxValue int) ([]byte, error) {
	d, err := c.dec()
	if err != nil {
		return dst, err
	}
	n, err := c.sizeHint(src, maxValue)
	if err != nil {
		return dst, err
	}
	// Decode into the declared size, plus the decoder's slack where dst has
	// room for it: with the cap limit it neither allocates nor writes past
	// that, whatever src says later, and the slack lets it use its fast
	// (over-writing) copy loops. A dst sized exactly is used as it is.
	if cap(dst)-len(dst) < n {
		dst = slices.Grow(dst, n+zstdSlack)
	}
	at, end := len(dst), len(dst)+n
	if cap(dst)-end >= zstdSlack {
		end += zstdSlack
	}
	out, err := d.DecodeAll(src, dst[at:at:end])
	if err != nil {
		return dst, err
	}
	if len(out) != n {
		return dst, fmt.Errorf("decoded %d bytes, frame declares %d", len(out), n)
	}
	dst = dst[:at+n]
	if n > 0 && &out[0] != &dst[at] {
		copy(dst[at:], out)
	}
	return dst, nil
}

// ---- snappy ----

// maxSnappyRatio bounds how far a valid snappy block can expand: the best a
// standard tag does is a 3-byte copy of 64 bytes.
const maxSnappyRatio = 22

type snappyCodec struct{}

func (snappyCodec) name() string { return "snappy" }

func (snappyCodec) encode(dst, src []byte) ([]byte, error) {
	n := snappy.MaxEncodedLen(len(src))
	if n < 0 {
		return dst, ErrTooLarge
	}
	dst = slices.Grow(dst, n)
	// EncodeSnappy, not snappy.Encode (EncodeSnappyBetter): faster on text
	// for a slightly lower ratio, that of the reference encoder
	// (BenchmarkW6 measures both).
	out := s2.EncodeSnappy(dst[len(dst):cap(dst)], src)
	return dst[:len(dst)+len(out)], nil
}

func (snappyCodec) sizeHint(src []byte, maxValue int) (int, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return 0, err
	}
	if n > maxValue {
		return 0, fmt.Errorf("declares %d bytes: %w", n, errTooLong)
	}
	if int64(n) > int64(len(src))*maxSnappyRatio {
		return 0, fmt.Errorf("declares %d bytes, impossible for %d compressed bytes", n, len(src))
	}
	return n, nil
}

func (c snappyCodec) decode(dst, src []byte, maxValue int) ([]byte, error) {
	n, err := c.sizeHint(src, maxValue)
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	// DecodeStrict rejects s2's extensions, which the reference snappy
	// (python-snappy) rejects too, and decodes into dst's spare capacity.
	out, err := snappy.DecodeStrict(dst[len(dst):len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)+len(out)], nil
}

// ---- zlib ----

type zlibCodec struct{ level int }

// zlibWriters pools writers by level (index level - zlib.HuffmanOnly).
var zlibWriters [zlib.BestCompression - zlib.HuffmanOnly + 1]sync.Pool

// zlibWriter is a pooled writer with the sink it writes into.
type zlibWriter struct {
	zw  *zlib.Writer
	out sliceWriter
}

// sliceWriter is an io.Writer that appends to a slice.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func newZLibCodec(level int) zlibCodec { return zlibCodec{level: level} }

func (zlibCodec) name() string { return "zlib" }

func (c zlibCodec) encode(dst, src []byte) ([]byte, error) {
	pool := &zlibWriters[c.level-zlib.HuffmanOnly]
	w, _ := pool.Get().(*zlibWriter)
	if w == nil {
		w = new(zlibWriter)
		zw, err := zlib.NewWriterLevel(&w.out, c.level)
		if err != nil {
			return dst, err
		}
		w.zw = zw
	}
	w.out.b = dst
	w.zw.Reset(&w.out)
	_, err := w.zw.Write(src)
	if err == nil {
		err = w.zw.Close()
	}
	dst, w.out.b = w.out.b, nil
	pool.Put(w)
	return dst, err
}

func (zlibCodec) sizeHint([]byte, int) (int, error) { return -1, nil }

// zlibReaders pools *zlibReader.
var zlibReaders sync.Pool

// zlibReader is a pooled zlib reader with the bytes.Reader it reads.
type zlibReader struct {
	in bytes.Reader
	zr io.ReadCloser // also a zlib.Resetter
}

func (zlibCodec) decode(dst, src []byte, maxValue int) ([]byte, error) {
	r, _ := zlibReaders.Get().(*zlibReader)
	if r == nil {
		r = new(zlibReader)
		r.in.Reset(src)
		zr, err := zlib.NewReader(&r.in)
		if err != nil {
			return dst, err
		}
		r.zr = zr
	} else {
		r.in.Reset(src)
		if err := r.zr.(zlib.Resetter).Reset(&r.in, nil); err != nil {
			r.in.Reset(nil)
			zlibReaders.Put(r)
			return dst, err
		}
	}
	dst, err := readLimited(dst, r.zr, maxValue)
	if err == nil && r.in.Len() != 0 {
		err = fmt.Errorf("%d bytes after the end of the zlib stream", r.in.Len())
	}
	r.in.Reset(nil)
	zlibReaders.Put(r)
	return dst, err
}

// readLimited appends everything r yields to dst, failing once that passes
// maxValue bytes. It grows dst by doubling what it has read, so memory stays
// proportional to the output.
func readLimited(dst []byte, r io.Reader, maxValue int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(len(dst)-start, 32<<10))
		}
		// Room for one byte past the maximum, to tell "exactly max" from more.
		room := cap(dst) - len(dst)
		if left := maxValue - (len(dst) - start); left < room {
			room = left + 1
		}
		if room <= 0 {
			return dst, errTooLong
		}
		n, err := r.Read(dst[len(dst) : len(dst)+room])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			if len(dst)-start > maxValue {
				return dst, errTooLong
			}
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}
