package compress

import (
	"errors"
	"fmt"
	"math"

	"github.com/gopartd/partd"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// DefaultMaxValueSize is the largest value, in bytes, that a layer stores or
// decompresses unless [WithMaxValueSize] says otherwise: 1 GiB.
const DefaultMaxValueSize = 1 << 30

// MaxValueSizeLimit is the largest maximum value size [WithMaxValueSize]
// accepts: 4 GiB - 1, the snappy block format's limit.
const MaxValueSizeLimit = 1<<32 - 1

// ErrTooLarge is returned, wrapped with the key, by Append and Set for a
// value longer than the layer's maximum value size. Nothing of the batch is
// written. (A stored frame that claims more is partd.ErrCorrupt instead.)
var ErrTooLarge = errors.New("value exceeds the maximum value size")

// An Option configures a layer: [WithLevel], [WithMaxValueSize]. Options
// are validated when the layer is built: [NewZstd], [NewSnappy] and
// [NewZLib] return a bad option's error at once, as zlib.NewWriterLevel
// does, and so does [Setting.Wrap]. [Zstd], [Snappy] and [ZLib] cannot
// fail, like zlib.NewWriter: they are for options known to be right (or
// none); a bad one there does not panic, but every call of the returned
// store returns its error (see [Err]).
type Option func(*options) error

type options struct {
	maxValue int
	level    int
	hasLevel bool
}

func defaultOptions() options { return options{maxValue: DefaultMaxValueSize} }

// WithMaxValueSize sets the largest value, in bytes, that the layer stores or
// decompresses. Append and Set refuse longer values with ErrTooLarge, and Get
// returns partd.ErrCorrupt for a frame that would decompress to more, before
// allocating for it, so hostile stored bytes cannot make Get allocate much
// more than n bytes per frame. n must be in [1, MaxValueSizeLimit] (and fit
// in an int).
func WithMaxValueSize(n int64) Option {
	return func(o *options) error {
		if n < 1 || n > MaxValueSizeLimit || uint64(n) > math.MaxInt {
			return fmt.Errorf("partd: compress: max value size %d out of range [1, %d]", n, int64(MaxValueSizeLimit))
		}
		o.maxValue = int(n)
		return nil
	}
}

// WithLevel sets the compression level. For [Zstd], levels follow the zstd
// command line, 1 (fastest) to 22 (smallest), 0 meaning [DefaultZstdLevel];
// the encoder maps them onto its four speeds: 1-2 fastest, 3-5 default, 6-9
// better, 10-22 best. For [ZLib], a compress/zlib level:
// zlib.HuffmanOnly, zlib.DefaultCompression, zlib.NoCompression, or 1 to 9.
// [Snappy] has no levels: WithLevel is an error there.
func WithLevel(level int) Option {
	return func(o *options) error {
		o.level, o.hasLevel = level, true
		return nil
	}
}

func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// DefaultZstdLevel is the level of [Zstd] unless [WithLevel] says otherwise:
// level 1, the encoder's fastest speed, because a shuffle or spill store is
// usually bound by how fast it compresses. At every level the layer
// entropy-codes literals even in blocks where no match was found, so text
// with few repeated runs but a skewed alphabet (numbers, one per line)
// compresses as zstd -1 compresses it, not 1:1. (What level 1 saves
// against level 3 on the workloads is measured in compress's benchmarks.)
const DefaultZstdLevel = 1

// NewZstd returns a layer that compresses each value with zstd (at
// [DefaultZstdLevel] unless [WithLevel] says otherwise) and a content
// checksum, or the error of an option it cannot apply. See the package
// documentation for the format and for Close.
func NewZstd(inner partd.Store, opts ...Option) (partd.Store, error) {
	return built(zstdLayer(inner, opts))
}

// Zstd is NewZstd for options known to be right: it cannot fail, and a bad
// option makes every call of the returned store fail instead.
func Zstd(inner partd.Store, opts ...Option) partd.Store { return zstdLayer(inner, opts) }

// built returns l, or the error of an option its constructor could not
// apply.
func built(l *layer) (partd.Store, error) {
	if l.optErr != nil {
		return nil, l.optErr
	}
	return l, nil
}

func zstdLayer(inner partd.Store, opts []Option) *layer {
	o, err := buildOptions(opts)
	level := zstd.EncoderLevelFromZstd(DefaultZstdLevel)
	if err == nil && o.hasLevel {
		level, err = zstdLevel(o.level)
	}
	return newLayer(inner, newZstdCodec(level, o.maxValue), o, err)
}

// NewSnappy returns a layer that compresses each value in the snappy block
// format, byte-compatible with Python partd's partd.Snappy, or the error of
// an option it cannot apply (snappy has no levels). See the package
// documentation for the format and for Close.
func NewSnappy(inner partd.Store, opts ...Option) (partd.Store, error) {
	return built(snappyLayer(inner, opts))
}

// Snappy is NewSnappy for options known to be right: it cannot fail, and a
// bad option makes every call of the returned store fail instead.
func Snappy(inner partd.Store, opts ...Option) partd.Store { return snappyLayer(inner, opts) }

func snappyLayer(inner partd.Store, opts []Option) *layer {
	o, err := buildOptions(opts)
	if err == nil && o.hasLevel {
		err = fmt.Errorf("partd: snappy: no compression levels (WithLevel(%d))", o.level)
	}
	return newLayer(inner, snappyCodec{}, o, err)
}

// NewZLib returns a layer that compresses each value as a zlib stream (at
// the default level unless [WithLevel] says otherwise), byte-compatible
// with Python partd's partd.ZLib, or the error of an option it cannot
// apply. See the package documentation for the format and for Close.
func NewZLib(inner partd.Store, opts ...Option) (partd.Store, error) {
	return built(zlibLayer(inner, opts))
}

// ZLib is NewZLib for options known to be right: it cannot fail, and a bad
// option makes every call of the returned store fail instead.
func ZLib(inner partd.Store, opts ...Option) partd.Store { return zlibLayer(inner, opts) }

func zlibLayer(inner partd.Store, opts []Option) *layer {
	o, err := buildOptions(opts)
	level := zlib.DefaultCompression
	if err == nil && o.hasLevel {
		if level = o.level; level < zlib.HuffmanOnly || level > zlib.BestCompression {
			err = fmt.Errorf("partd: zlib: invalid level %d: want %d to %d", level, zlib.HuffmanOnly, zlib.BestCompression)
			level = zlib.DefaultCompression
		}
	}
	return newLayer(inner, newZLibCodec(level), o, err)
}
