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

// An Option configures a layer. Options are validated: a constructor given a
// bad one returns its error.
type Option func(*options) error

type options struct {
	maxValue int
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

// Zstd returns a layer that compresses each value with zstd at
// [DefaultZstdLevel] and a content checksum. See the package documentation
// for the format and for Close.
func Zstd(inner partd.Store) partd.Store {
	o := defaultOptions()
	return newLayer(inner, newZstdCodec(zstd.EncoderLevelFromZstd(DefaultZstdLevel), o.maxValue), o)
}

// DefaultZstdLevel is the level of [Zstd], and of [ZstdLevel] given 0: level 1,
// the encoder's fastest speed. A shuffle or spill store is usually bound by
// how fast it compresses: on the 4 KiB text values of WORKLOADS.md W6, level 1
// takes 20-45% less CPU than level 3 for a ratio 4% lower (2.64 against
// 2.74).
const DefaultZstdLevel = 1

// ZstdLevel is like [Zstd] with a zstd compression level and options. Levels
// follow the zstd command line, 1 (fastest) to 22 (smallest), 0 meaning
// [DefaultZstdLevel]; the encoder maps them onto its four speeds: 1-2
// fastest, 3-5 default, 6-9 better, 10-22 best. Any other level is an error.
func ZstdLevel(inner partd.Store, level int, opts ...Option) (partd.Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	l, err := zstdLevel(level)
	if err != nil {
		return nil, err
	}
	return newLayer(inner, newZstdCodec(l, o.maxValue), o), nil
}

// Snappy returns a layer that compresses each value in the snappy block
// format, byte-compatible with Python partd's partd.Snappy. See the package
// documentation for the format and for Close.
func Snappy(inner partd.Store) partd.Store {
	return newLayer(inner, snappyCodec{}, defaultOptions())
}

// SnappyOptions is like [Snappy] with options.
func SnappyOptions(inner partd.Store, opts ...Option) (partd.Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return newLayer(inner, snappyCodec{}, o), nil
}

// ZLib returns a layer that compresses each value as a zlib stream at the
// default level, byte-compatible with Python partd's partd.ZLib. See the
// package documentation for the format and for Close.
func ZLib(inner partd.Store) partd.Store {
	return newLayer(inner, newZLibCodec(zlib.DefaultCompression), defaultOptions())
}

// ZLibLevel is like [ZLib] with a compress/zlib level (zlib.HuffmanOnly,
// zlib.DefaultCompression, zlib.NoCompression, or 1 to 9) and options. Any
// other level is an error.
func ZLibLevel(inner partd.Store, level int, opts ...Option) (partd.Store, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if level < zlib.HuffmanOnly || level > zlib.BestCompression {
		return nil, fmt.Errorf("partd: zlib: invalid level %d: want %d to %d", level, zlib.HuffmanOnly, zlib.BestCompression)
	}
	return newLayer(inner, newZLibCodec(level), o), nil
}
